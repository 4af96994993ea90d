namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>An appsettings.json of a test's own, in a temporary folder, written as an operator edits it on a running server.</summary>
internal sealed class SettingsFile : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("keepalive-settings-");

    public string Path => System.IO.Path.Combine(_directory.FullName, "appsettings.json");

    /// <summary>Writes <paramref name="json"/> whole or not at all: a watcher that fired mid-write would read a half file.</summary>
    public void Write(string json)
    {
        var temporary = System.IO.Path.Combine(_directory.FullName, $"{Guid.NewGuid():N}.tmp");
        File.WriteAllText(temporary, json);
        File.Move(temporary, Path, overwrite: true);
    }

    /// <summary>Writes the settings and waits until they are applied: one more <c>PolicyReloaded</c> in <paramref name="logs"/> than before.</summary>
    public async Task ReloadAsync(string json, LogSink logs)
    {
        const string PolicyReloaded = "PolicyReloaded";
        var reloads = logs.KeepAliveEvents(PolicyReloaded).Count;
        Write(json);
        await Eventually.HoldsAsync(() => logs.KeepAliveEvents(PolicyReloaded).Count > reloads, $"{PolicyReloaded} is logged");
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
