using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// The <c>KeepAlive</c> section of issue 5, as appsettings.json holds it, and what the kernel must read
/// back for each of its policies.
/// </summary>
internal static class IssueConfiguration
{
    public const string Json = """
        {
          "KeepAlive": {
            "Idle": "00:01:00", "Interval": "00:00:10", "ProbeCount": 6,
            "Policies": {
              "streaming": { "Idle": "00:00:15", "Interval": "00:00:05", "ProbeCount": 3 },
              "behind-azure-lb": { "Preset": "AzureLoadBalancer" }
            },
            "Endpoints": { "Streams": "streaming", "Internal": "behind-azure-lb" }
          }
        }
        """;

    /// <summary>The top level: 60 s, 10 s, 6 probes; user timeout 60 + 10 x 6 = 120 s.</summary>
    public static readonly KernelSocketOptions Default = new(true, 60, 10, 6, 120_000);

    /// <summary>"streaming": 15 s, 5 s, 3 probes; user timeout 15 + 5 x 3 = 30 s, its own, not the default's 120 s.</summary>
    public static readonly KernelSocketOptions Streaming = new(true, 15, 5, 3, 30_000);

    /// <summary>"behind-azure-lb", the AzureLoadBalancer preset: 3 min, 10 s, 6 probes; user timeout 180 + 10 x 6 = 240 s.</summary>
    public static readonly KernelSocketOptions BehindAzureLoadBalancer = new(true, 180, 10, 6, 240_000);

    /// <summary>
    /// The same without <c>Endpoints</c>, for apps without those Kestrel configuration endpoints (a name there that
    /// Kestrel lacks fails at startup).
    /// </summary>
    public static readonly string PoliciesOnly = Json.Replace(
        ",\n    \"Endpoints\": { \"Streams\": \"streaming\", \"Internal\": \"behind-azure-lb\" }", "", StringComparison.Ordinal);

    /// <summary>Adds <paramref name="json"/> (by default <see cref="PoliciesOnly"/>) as a configuration source, as an appsettings file would be read.</summary>
    public static void Add(IConfigurationBuilder configuration, string? json = null) =>
        configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json ?? PoliciesOnly)));
}
