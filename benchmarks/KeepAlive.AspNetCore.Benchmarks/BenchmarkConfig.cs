using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Metrology;

namespace KeepAlive.AspNetCore.Benchmarks;

/// <summary>
/// In process (this Release build, no generated project: on the shared build machine a generated
/// project's restore and build can outlast BenchmarkDotNet's two-minute build timeout), and allocations
/// in bytes, not KB: the library's share is a few hundred bytes of a few KB.
/// </summary>
public sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsMutator());
        SummaryStyle = SummaryStyle.Default.WithSizeUnit(SizeUnit.B);
        AddColumn(StatisticColumn.Median);
    }
}
