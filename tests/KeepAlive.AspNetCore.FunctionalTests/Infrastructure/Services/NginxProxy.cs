using System.Diagnostics;
using System.Net.Sockets;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// A real reverse proxy (Debian's <c>nginx</c>, installed by <c>eng/test.sh</c>) as a child process in the foreground,
/// its configuration and temporary files in a directory of its own, listening on 127.0.0.1 on a free port and passing
/// everything, WebSocket upgrades included, to one upstream: as it sits in front of an ASP.NET Core app. Its long
/// timeouts leave the ending of connections to the app.
/// </summary>
internal sealed class NginxProxy : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly Process _process;
    private readonly string _directory;

    private NginxProxy(Process process, string directory, Uri address)
    {
        _process = process;
        _directory = directory;
        Address = address;
    }

    /// <summary>Where clients connect: <c>http://127.0.0.1:port</c>.</summary>
    public Uri Address { get; }

    /// <summary>The nginx executable, or <see langword="null"/> when it is not installed.</summary>
    public static string? ExecutablePath { get; } =
        new[] { "/usr/sbin", "/usr/bin", "/sbin", "/bin" }.Select(d => Path.Combine(d, "nginx")).FirstOrDefault(File.Exists);

    public static async Task<NginxProxy> StartAsync(Uri upstream)
    {
        var executable = ExecutablePath ?? throw new InvalidOperationException("nginx is not installed (apt-get install nginx; eng/test.sh does it).");
        var directory = Directory.CreateTempSubdirectory("keepalive-nginx-").FullName;
        var port = FreeTcpPort.Next();
        // No master process, and the user it already is: the test's user namespace maps that one user only (nginx's
        // default, nobody, it could not switch to or give its temporary files to).
        var user = Environment.UserName;
        await File.WriteAllTextAsync(Path.Combine(directory, "nginx.conf"), $$"""
            daemon off;
            master_process off;
            user {{user}};
            worker_processes 1;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path {{directory}}/body;
                proxy_temp_path {{directory}}/proxy;
                fastcgi_temp_path {{directory}}/fastcgi;
                uwsgi_temp_path {{directory}}/uwsgi;
                scgi_temp_path {{directory}}/scgi;
                map $http_upgrade $connection_upgrade { default upgrade; '' close; }
                server {
                    listen 127.0.0.1:{{port}};
                    location / {
                        proxy_pass {{upstream.GetLeftPart(UriPartial.Authority)}};
                        proxy_http_version 1.1;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection $connection_upgrade;
                        proxy_buffering off;
                        proxy_read_timeout 1h;
                        proxy_send_timeout 1h;
                    }
                }
            }
            """, TestContext.Current.CancellationToken);

        var process = Process.Start(new ProcessStartInfo(executable)
        {
            ArgumentList = { "-p", directory, "-c", Path.Combine(directory, "nginx.conf") },
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("nginx did not start.");
        var proxy = new NginxProxy(process, directory, new Uri($"http://127.0.0.1:{port}"));
        // Not Eventually: a connect that throws until nginx listens, and a process that may die first.
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
                return proxy;
            }
            catch (SocketException) when (!process.HasExited && Stopwatch.GetElapsedTime(started) < StartTimeout)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
            catch (SocketException)
            {
                var log = Path.Combine(directory, "error.log");
                await proxy.DisposeAsync();
                throw new InvalidOperationException($"nginx did not listen within {StartTimeout.TotalSeconds} s: {(File.Exists(log) ? File.ReadAllText(log) : "no log")}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
