namespace KeepAlive.AspNetCore;

/// <summary>
/// The names of Kestrel's configuration endpoints (<c>Kestrel:Endpoints</c>), the only names <c>KeepAlive:Endpoints</c>
/// may map; read when Kestrel's options are built, checked when the policies are (at startup and on reload).
/// </summary>
internal sealed class KestrelConfigurationEndpoints
{
    /// <summary>The endpoint names; <see langword="null"/> until Kestrel's options are built.</summary>
    public IReadOnlyCollection<string>? Names { get; set; }

    /// <summary>The configuration section that holds them.</summary>
    public string Section { get; set; } = "Kestrel:Endpoints";

    /// <summary>The messages for the names in <paramref name="mapped"/> that are not Kestrel configuration endpoints.</summary>
    public List<string> Unknown(IEnumerable<string> mapped) =>
        Names is { } names ? KeepAliveOptionsValidator.UnknownEndpoints(mapped, names, Section) : [];
}
