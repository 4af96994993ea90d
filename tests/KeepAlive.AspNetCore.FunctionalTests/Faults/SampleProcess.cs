using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KeepAlive.AspNetCore.FunctionalTests.Faults;

/// <summary>
/// The sample app (samples/WebApi, built next to the tests) run as its own process, as a user runs it,
/// with the environment the test gives, listening on 127.0.0.1 with a port the OS picks.
/// </summary>
internal sealed partial class SampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private SampleProcess(Process process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;

    public string Output
    {
        get { lock (_output) return string.Join(Environment.NewLine, _output); }
    }

    public static async Task<SampleProcess> StartAsync(IReadOnlyDictionary<string, string> environment)
    {
        var dotnet = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var start = new ProcessStartInfo(dotnet, [Path.Combine(AppContext.BaseDirectory, "WebApi.dll")])
        {
            WorkingDirectory = AppContext.BaseDirectory, // the content root: the sample's appsettings.json is copied here
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["Kestrel__Endpoints__Http__Url"] = "http://127.0.0.1:0";
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
            if (ListeningOn().Match(line) is { Success: true } match)
                listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
        sample._process.OutputDataReceived += (_, e) => OnLine(e.Data);
        sample._process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        sample._process.BeginOutputReadLine();
        sample._process.BeginErrorReadLine();
        try
        {
            sample.BaseAddress = await listening.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
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

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningOn();
}
