namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Metrics;

internal sealed record ViewDocument(int Count, int Omitted, IReadOnlyList<ViewedConnection> Connections);
