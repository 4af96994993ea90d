using System.Diagnostics.Metrics;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// An <see cref="IMeterFactory"/> for code under test built without a host. Kept: Microsoft.Extensions.Diagnostics.Testing
/// has no fake one, and the real one comes only out of a service provider that each test would have to build and dispose.
/// </summary>
public sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
        lock (_meters)
            _meters.Add(meter);
        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
            _meters.ForEach(m => m.Dispose());
    }
}
