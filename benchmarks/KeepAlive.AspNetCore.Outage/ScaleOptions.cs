namespace KeepAlive.AspNetCore.Outage;

internal sealed class ScaleOptions
{
    public int Connections { get; set; } = 1_000;

    /// <summary>Idle event streams only, or a mix: half idle streams, a quarter ticking streams, a quarter WebSockets.</summary>
    public bool Mixed { get; set; }

    /// <summary>Off: plain Kestrel, the same run without the library.</summary>
    public bool Policy { get; set; } = true;
}
