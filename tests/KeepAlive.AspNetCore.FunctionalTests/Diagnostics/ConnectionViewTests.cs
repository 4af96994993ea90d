using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore.FunctionalTests.Diagnostics;

/// <summary>
/// The connection view and the connection gauge on real Kestrel, with live peers: what an operator reads when
/// nothing is wrong, how the view is filtered, and that the app's authorization guards it. (Peers that vanish or
/// stall: <c>Faults/ConnectionStateTests</c>.)
/// </summary>
public class ConnectionViewTests
{
    private const string ViewPath = "/keepalive/connections";

    [Fact]
    public async Task The_view_lists_a_held_connection_with_its_policy_bounds_and_the_gauge_counts_it_responsive()
    {
        await using var app = await KestrelApp.StartAsync(UsePolicy, a => a.MapKeepAliveConnections(ViewPath));
        using var gauge = new ConnectionGauge(app);
        using var http = LoopbackClient.Create();

        // A client that connected and sent nothing yet: Kestrel holds it under the policy from accept on.
        using var held = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await held.ConnectAsync(IPAddress.Loopback, app.BaseAddress.Port, TestContext.Current.CancellationToken);
        var heldAddress = held.LocalEndPoint!.ToString();
        ViewedConnection? listed = null;
        await Eventually.HoldsAsync(async () =>
        {
            listed = (await ConnectionView.ReadAsync(http, new Uri(app.BaseAddress, ViewPath))).Connections.SingleOrDefault(c => c.RemoteEndPoint == heldAddress);
            return listed is not null;
        }, $"the view listing {heldAddress}");

        Assert.Equal("default", listed!.Policy);
        Assert.Equal("responsive", listed.State);
        Assert.Equal($"127.0.0.1:{app.BaseAddress.Port}", listed.LocalEndPoint);
        Assert.False(string.IsNullOrEmpty(listed.ConnectionId));
        Assert.Equal(0, listed.Probes);
        Assert.Equal(0, listed.Retransmits);
        Assert.Equal(0, listed.UnsentBytes);
        Assert.InRange(listed.Silence!.Value, 0, 20);
        // In seconds, as every other field: a loopback round trip is well under a millisecond.
        Assert.InRange(listed.Rtt!.Value, 0, 0.01);
        // Idle 20 s + Interval 5 s x ProbeCount 3 = 35 s for each bound, the derived UserTimeout for the other two.
        Assert.Equal(new ViewedBounds(35, 35, 35), listed.Bounds);

        // The gauge: the held connection and the view's own client, both responsive; every other state at zero.
        var collected = gauge.Collect();
        Assert.Equal(2, ConnectionGauge.Of(collected, "responsive"));
        Assert.Equal(0, ConnectionGauge.Of(collected, "probing"));
        Assert.Equal(0, ConnectionGauge.Of(collected, "retransmitting"));
        Assert.Equal(0, ConnectionGauge.Of(collected, "zero_window"));

        // Filtered: nothing is probing; responsive (with another state, comma-separated) lists both.
        Assert.Empty((await ConnectionView.ReadAsync(http, new Uri(app.BaseAddress, $"{ViewPath}?state=probing"))).Connections);
        Assert.Equal(2, (await ConnectionView.ReadAsync(http, new Uri(app.BaseAddress, $"{ViewPath}?state=probing,responsive"))).Connections.Count);
    }

    [Fact]
    public async Task The_view_shows_at_most_its_limit_and_says_how_many_matched_and_were_left_out()
    {
        await using var app = await KestrelApp.StartAsync(UsePolicy, a => a.MapKeepAliveConnections(ViewPath));
        using var http = LoopbackClient.Create();
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                held.Add(socket);
                await socket.ConnectAsync(IPAddress.Loopback, app.BaseAddress.Port, TestContext.Current.CancellationToken);
            }
            // 30 held and the view's own client.
            await Eventually.HoldsAsync(async () => (await ConnectionView.ReadDocumentAsync(http, new Uri(app.BaseAddress, ViewPath))).View.Count == 31, "the view counting 31");

            var (limited, json) = await ConnectionView.ReadDocumentAsync(http, new Uri(app.BaseAddress, $"{ViewPath}?limit=10"));
            Assert.Equal(31, limited.Count);
            Assert.Equal(21, limited.Omitted);
            Assert.Equal(10, limited.Connections.Count);
            // The default limit is 100: all of them.
            var all = (await ConnectionView.ReadDocumentAsync(http, new Uri(app.BaseAddress, ViewPath))).View;
            Assert.Equal((31, 0, 31), (all.Count, all.Omitted, all.Connections.Count));
            TestContext.Current.TestOutputHelper?.WriteLine(json[..Math.Min(json.Length, 300)]);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("10001")]
    [InlineData("ten")]
    [InlineData("-5")]
    public async Task A_bad_limit_is_a_400_naming_the_allowed_range(string limit)
    {
        await using var app = await KestrelApp.StartAsync(UsePolicy, a => a.MapKeepAliveConnections(ViewPath));
        using var http = LoopbackClient.Create();

        using var response = await http.GetAsync(new Uri(app.BaseAddress, $"{ViewPath}?limit={limit}"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal($"'{limit}' is not a limit; ?limit= takes a whole number from 1 to 10000 (default 100).", problem.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_long_unknown_state_is_echoed_bounded()
    {
        await using var app = await KestrelApp.StartAsync(UsePolicy, a => a.MapKeepAliveConnections(ViewPath));
        using var http = LoopbackClient.Create();
        var state = new string('x', 5000);

        using var response = await http.GetAsync(new Uri(app.BaseAddress, $"{ViewPath}?state={state}"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(body.Length < 400, $"A {state.Length}-character query echoed in {body.Length} characters.");
        Assert.Contains($"'{new string('x', 40)}...' is not a connection state", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_state_is_a_400_naming_the_states()
    {
        await using var app = await KestrelApp.StartAsync(UsePolicy, a => a.MapKeepAliveConnections(ViewPath));
        using var http = LoopbackClient.Create();

        using var response = await http.GetAsync(new Uri(app.BaseAddress, $"{ViewPath}?state=probing&state=dead"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.StartsWith("'dead' is not a connection state; the states are zero_window, retransmitting, probing, responsive",
            problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_view_honours_the_apps_authorization_policy()
    {
        await using var app = await KestrelApp.StartAsync(
            b =>
            {
                UsePolicy(b);
                b.Services.AddAuthentication(HeaderAuthentication.Name).AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>(HeaderAuthentication.Name, null);
                b.Services.AddAuthorizationBuilder().AddPolicy("operators", p => p.RequireRole("operator"));
            },
            a => a.MapKeepAliveConnections(ViewPath).RequireAuthorization("operators"));
        using var http = LoopbackClient.Create();
        var view = new Uri(app.BaseAddress, ViewPath);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(http, view, user: null, role: null));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(http, view, user: "someone", role: "reader"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, view, user: "ops", role: "operator"));
    }

    [Fact]
    public async Task The_sample_serves_the_view_to_local_callers()
    {
        await using var factory = new SampleAppFactory();
        await factory.StartAsync();
        using var client = factory.CreateLoopbackClient();

        var (connections, _) = await ConnectionView.ReadAsync(client, new Uri(factory.Address, ViewPath));

        // At least the caller's own connection, under the sample's default policy (Idle 60 s, Interval 10 s x 6, UserTimeout 2 min).
        var own = Assert.Single(connections);
        Assert.Equal("responsive", own.State);
        Assert.Equal(new ViewedBounds(120, 120, 120), own.Bounds);
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http, Uri address, string? user, string? role)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, address);
        if (user is not null)
            request.Headers.Add(HeaderAuthentication.UserHeader, user);
        if (role is not null)
            request.Headers.Add(HeaderAuthentication.RoleHeader, role);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    private static void UsePolicy(WebApplicationBuilder builder)
    {
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KeepAlive:Idle"] = "00:00:20",
            ["KeepAlive:Interval"] = "00:00:05",
            ["KeepAlive:ProbeCount"] = "3",
        });
        builder.UseKeepAlivePolicy();
    }

    /// <summary>A test's stand-in for real authentication: the user and role are what the request's headers say.</summary>
    private sealed class HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string Name = "Header";
        public const string UserHeader = "X-Test-User";
        public const string RoleHeader = "X-Test-Role";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (Request.Headers[UserHeader].ToString() is not { Length: > 0 } user)
                return Task.FromResult(AuthenticateResult.NoResult());
            var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user), new Claim(ClaimTypes.Role, Request.Headers[RoleHeader].ToString())], Name);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Name)));
        }
    }
}
