using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Policies;

/// <summary>
/// A reload runs on the file watcher's thread, where an exception ends the process (seen once: SIGABRT after "Application
/// is shutting down" while a polling reload was applied, the host's services disposed under it). Whatever a reload meets,
/// it throws nothing: a disposed host is passed over quietly, anything else is logged, and the last good policies stay.
/// </summary>
public sealed class ReloadFailureTests : IDisposable
{
    private readonly SettingsFile _settings = new();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_reload_that_fails_throws_nothing_and_keeps_the_last_good_policies(bool hostDisposed)
    {
        var logs = new LogSink();
        var failing = new FailingValidator();
        _settings.Write(Settings("00:00:20"));
        await using var app = await KestrelApp.StartAsync(b =>
        {
            b.Logging.AddProvider(logs);
            b.Configuration.AddJsonFile(_settings.Path, optional: false, reloadOnChange: true);
            b.UseKeepAlivePolicy();
            b.Services.AddSingleton<IValidateOptions<KeepAliveOptions>>(failing);
        });
        var policies = app.App.Services.GetRequiredService<KeepAlivePolicies>();

        failing.Throw = hostDisposed ? new ObjectDisposedException("IServiceProvider") : new InvalidOperationException("something unexpected");
        _settings.Write(Settings("00:00:25"));
        // The reload as the watcher runs it, on this thread: it must return.
        policies.Reload();

        Assert.Equal(20, (await LoopbackClient.ReadOnNewConnectionAsync(app.BaseAddress)).IdleSeconds);
        var failed = logs.KeepAliveEvents("ReloadFailed");
        if (hostDisposed)
            Assert.Empty(failed);
        else
        {
            Assert.NotEmpty(failed); // once per reload: the file watcher's own may have run as well
            Assert.All(failed, e => Assert.Same(failing.Throw, e.Exception));
        }
    }

    public void Dispose() => _settings.Dispose();

    private static string Settings(string idle) => $$"""{ "KeepAlive": { "Idle": "{{idle}}", "Interval": "00:00:05", "ProbeCount": 4 } }""";

    private sealed class FailingValidator : IValidateOptions<KeepAliveOptions>
    {
        public Exception? Throw { get; set; }

        public ValidateOptionsResult Validate(string? name, KeepAliveOptions options) =>
            Throw is { } exception ? throw exception : ValidateOptionsResult.Skip;
    }
}
