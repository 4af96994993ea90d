namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>
/// A directory laid out as the kubelet mounts a ConfigMap: <c>appsettings.json -> ..data/appsettings.json</c>, and
/// <c>..data -> ..&lt;version&gt;</c>, a directory per version; an update writes a new version's directory and swaps
/// <c>..data</c> to it in one rename (the file itself, as the app opens it, never changes in place).
/// </summary>
internal sealed partial class ConfigMapMount : IDisposable
{
    public const string FileName = "appsettings.json";
    private readonly DirectoryInfo _directory = System.IO.Directory.CreateTempSubdirectory("keepalive-configmap-");
    private int _version;

    public string Root => _directory.FullName;

    public string FilePath => Path.Combine(Root, FileName);

    /// <summary>Publishes <paramref name="json"/> as the next version, as the kubelet does.</summary>
    public void Publish(string json)
    {
        var version = $"..2026_12_03_{++_version:D2}";
        System.IO.Directory.CreateDirectory(Path.Combine(Root, version));
        File.WriteAllText(Path.Combine(Root, version, FileName), json);
        var temporary = Path.Combine(Root, "..data_tmp");
        File.CreateSymbolicLink(temporary, version);
        // rename(2) over the old link: the swap is atomic (File.Move refuses a link to a directory).
        if (Rename(temporary, Path.Combine(Root, "..data")) != 0)
            throw new IOException($"rename failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        if (!File.Exists(FilePath))
            File.CreateSymbolicLink(FilePath, Path.Combine("..data", FileName));
    }

    public void Dispose() => _directory.Delete(recursive: true);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string from, string to);
}
