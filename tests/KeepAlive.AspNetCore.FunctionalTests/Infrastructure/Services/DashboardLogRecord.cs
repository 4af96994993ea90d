namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>One structured log record as the dashboard holds it.</summary>
internal sealed record DashboardLogRecord(string Category, string EventName, string Severity, string Message, IReadOnlyDictionary<string, string> Attributes);
