namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

internal sealed record ViewedBounds(double? SilentIdlePeer, double? UnacknowledgedData, double? StalledReader);
