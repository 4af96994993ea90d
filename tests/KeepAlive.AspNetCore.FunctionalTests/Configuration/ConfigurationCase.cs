using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// A configuration as an operator writes it: layers of settings (an appsettings.json, then environment variables),
/// each a list of <c>KeepAlive:...</c> keys and values; and, for a bad one, the key its startup failure must name.
/// </summary>
/// <param name="Name">What the case is, for the failure report.</param>
/// <param name="Layers">The sources in the order the host adds them: a later one overrides an earlier one.</param>
/// <param name="BadKey">The key the startup failure must name; <see langword="null"/> for a configuration that must start.</param>
internal sealed record ConfigurationCase(string Name, IReadOnlyList<ConfigurationLayer> Layers, string? BadKey = null)
{
    /// <summary>Every setting as the host sees it: later layers win, keys compare case-insensitively, as in .NET configuration.</summary>
    public IReadOnlyDictionary<string, string?> Effective()
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var layer in Layers)
        {
            foreach (var (key, value) in layer.Settings)
                settings[key] = value;
        }
        return settings;
    }

    /// <summary>Adds the layers to <paramref name="configuration"/>: JSON as a stream, environment variables as their names and values.</summary>
    public void AddTo(IConfigurationBuilder configuration)
    {
        foreach (var layer in Layers)
        {
            if (layer.Json)
                configuration.AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(layer.ToJson())));
            else
                configuration.AddInMemoryCollection(layer.Settings.Select(s => KeyValuePair.Create(FromEnvironmentVariable(ToEnvironmentVariable(s.Key)), s.Value)));
        }
    }

    public override string ToString() =>
        $"{Name}: {string.Join(" | ", Layers.Select(l => l.Json ? $"json {l.ToJson().ReplaceLineEndings(" ")}" : $"env {string.Join(" ", l.Settings.Select(s => $"{ToEnvironmentVariable(s.Key)}={s.Value}"))}"))}";

    // KeepAlive:Policies:fast:Idle as an operator sets it in a container: KeepAlive__Policies__fast__Idle.
    private static string ToEnvironmentVariable(string key) => key.Replace(":", "__", StringComparison.Ordinal);

    // What AddEnvironmentVariables makes of a variable's name: "__" is the section separator.
    private static string FromEnvironmentVariable(string name) => name.Replace("__", ":", StringComparison.Ordinal);
}
