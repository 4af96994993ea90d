using Microsoft.Extensions.Configuration;

namespace KeepAlive.AspNetCore.Outage;

/// <summary>
/// A configuration source the benchmark changes in place and reloads, as a changed appsettings.json is: the reload
/// token fires on the caller's thread, and the library applies the new policies to every open connection before
/// <see cref="Change"/> returns, so timing the call times the re-apply.
/// </summary>
internal sealed class ReloadableConfiguration(IDictionary<string, string?> initial) : ConfigurationProvider, IConfigurationSource
{
    public IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        foreach (var (key, value) in initial)
            Data[key] = value;
        return this;
    }

    /// <summary>Sets <paramref name="key"/> and reloads.</summary>
    public void Change(string key, string value)
    {
        Data[key] = value;
        OnReload();
    }
}
