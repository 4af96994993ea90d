using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using Perfolizer.Metrology;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>Allocations in bytes, not KB: the library's share is a few hundred bytes of a few KB.</summary>
public sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        SummaryStyle = SummaryStyle.Default.WithSizeUnit(SizeUnit.B);
        AddColumn(StatisticColumn.Median);
    }
}
