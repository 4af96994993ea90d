using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The configuration files that are reloaded on change but whose changes .NET's default file watcher will miss: a file
/// that is a symbolic link, as Kubernetes mounts a ConfigMap (<c>appsettings.json -> ..data/appsettings.json</c>, with
/// <c>..data</c> itself a link the kubelet swaps for each new version). The default watcher (inotify on the file's
/// directory, for that file's name) sees no event for the file when the link it goes through is swapped; the polling
/// watcher (<c>DOTNET_USE_POLLING_FILE_WATCHER=true</c>) compares the file's timestamp every 4 s and sees it.
/// </summary>
internal static class LinkedConfigurationFiles
{
    /// <summary>The full paths of such files among <paramref name="configuration"/>'s sources, with what each links to.</summary>
    public static IEnumerable<(string Path, string Target)> Find(IConfiguration configuration)
    {
        if (configuration is not IConfigurationRoot root)
            yield break;
        foreach (var provider in root.Providers)
        {
            // UseActivePolling, not UsePollingFileWatcher: the latter reads false once the provider watches anything, and
            // DOTNET_USE_POLLING_FILE_WATCHER sets both.
            if (provider is not FileConfigurationProvider { Source: { ReloadOnChange: true, Path: { } relative, FileProvider: PhysicalFileProvider { UseActivePolling: false } files } })
                continue;
            var path = System.IO.Path.Combine(files.Root, relative);
            string? target;
            try
            {
                target = new FileInfo(path).LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            if (target is not null)
                yield return (path, target);
        }
    }
}
