using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// The sample app (samples/WebApi, built next to the tests) run as its own process, as a user runs it,
/// with the environment and arguments the test gives. Unless they say where to listen
/// (<c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP_PORTS</c>, <c>--urls</c>), it listens on 127.0.0.1 with a
/// port the OS picks.
/// </summary>
internal sealed partial class SampleProcess : IAsyncDisposable
{
    private static readonly string[] ListenVariables = ["ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS"];
    private readonly Process _process;
    private readonly List<string> _output = [];

    private SampleProcess(Process process) => _process = process;

    /// <summary>The address of the sample's log line "Now listening on: ...".</summary>
    public Uri ListeningOn { get; private set; } = null!;

    /// <summary><see cref="ListeningOn"/>, with a wildcard host (<c>[::]</c>, <c>0.0.0.0</c>) replaced by 127.0.0.1.</summary>
    public Uri BaseAddress => ListeningOn.Host is "[::]" or "0.0.0.0" or "+" or "*"
        ? new UriBuilder(ListeningOn) { Host = "127.0.0.1" }.Uri
        : ListeningOn;

    /// <summary>The process id, for tools that attach to it.</summary>
    public int Id => _process.Id;

    public string Output
    {
        get { lock (_output) return string.Join(Environment.NewLine, _output); }
    }

    public static async Task<SampleProcess> StartAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var dotnet = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var start = new ProcessStartInfo(dotnet, [Path.Combine(AppContext.BaseDirectory, "WebApi.dll"), .. arguments])
        {
            WorkingDirectory = AppContext.BaseDirectory, // the content root: the sample's appsettings.json is copied here
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Where to listen comes from the test alone, not from the environment the tests run in.
        foreach (var variable in ListenVariables)
            start.Environment.Remove(variable);
        if (!environment.Keys.Intersect(ListenVariables).Any() && !arguments.Contains("--urls"))
            start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (key, value) in environment)
            start.Environment[key] = value;

        var sample = new SampleProcess(Process.Start(start)!);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
                return;
            lock (sample._output)
                sample._output.Add(line);
            if (ListeningLine().Match(line) is { Success: true } match)
                listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
        sample._process.OutputDataReceived += (_, e) => OnLine(e.Data);
        sample._process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        sample._process.BeginOutputReadLine();
        sample._process.BeginErrorReadLine();
        try
        {
            sample.ListeningOn = await listening.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            await sample.DisposeAsync();
            throw new TimeoutException($"The sample did not start listening within 30 s. It wrote:\n{sample.Output}");
        }
        return sample;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (https?://\S+)")]
    private static partial Regex ListeningLine();
}
