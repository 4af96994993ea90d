// Not part of the app the docs show: eng/servicedefaults-smoke.sh adds it to the web app and turns it on with
// ASPNETCORE_HOSTINGSTARTUPASSEMBLIES, so that the docs' Program.cs stays exactly as written. GET /kernel answers with
// the keepalive options the kernel holds for the caller's own connection, read with getsockopt by Linux's numbers.
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;

[assembly: HostingStartup(typeof(KernelReadBack))]

internal sealed class KernelReadBack : IHostingStartup
{
    public void Configure(IWebHostBuilder builder) =>
        builder.ConfigureServices(services => services.AddTransient<IStartupFilter, Endpoint>());

    private sealed class Endpoint : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Map("/kernel", kernel => kernel.Run(context =>
                context.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket
                    ? context.Response.WriteAsJsonAsync(new
                    {
                        keepAlive = Get(socket, 1, 9) != 0,        // SOL_SOCKET, SO_KEEPALIVE
                        idleSeconds = Get(socket, 6, 4),           // IPPROTO_TCP, TCP_KEEPIDLE
                        intervalSeconds = Get(socket, 6, 5),       // TCP_KEEPINTVL
                        probeCount = Get(socket, 6, 6),            // TCP_KEEPCNT
                        userTimeoutMilliseconds = Get(socket, 6, 18), // TCP_USER_TIMEOUT
                    })
                    : context.Response.WriteAsync("no socket")));
            next(app);
        };

        private static int Get(Socket socket, int level, int name)
        {
            Span<byte> value = stackalloc byte[4];
            socket.GetRawSocketOption(level, name, value);
            return BitConverter.ToInt32(value);
        }
    }
}
