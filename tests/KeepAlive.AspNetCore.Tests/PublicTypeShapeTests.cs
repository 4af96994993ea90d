using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// What the PublicApiAnalyzers do not track: the PublicAPI files list a type by name only, so sealing or
/// unsealing a class, making it static, or dropping a base type or interface (which breaks callers that
/// convert to it) would build. Each such change must show up here, in review.
/// </summary>
public class PublicTypeShapeTests
{
    [Fact]
    public void Public_types_keep_their_kind_and_base_types()
    {
        Assert.Equal(
            [
                "KeepAlive.AspNetCore.IKeepAlivePolicyMetadata (interface)",
                "KeepAlive.AspNetCore.KeepAliveInstrumentation (static class)",
                "KeepAlive.AspNetCore.KeepAliveOptions (sealed class)",
                "KeepAlive.AspNetCore.KeepAlivePolicyAttribute (sealed class) : System.Attribute, KeepAlive.AspNetCore.IKeepAlivePolicyMetadata",
                "KeepAlive.AspNetCore.KeepAlivePolicyOptions (sealed class)",
                "KeepAlive.AspNetCore.KeepAlivePresets (static class)",
                "Microsoft.AspNetCore.Builder.KeepAliveConnectionsEndpointRouteBuilderExtensions (static class)",
                "Microsoft.AspNetCore.Builder.KeepAliveRouteExtensions (static class)",
                "Microsoft.AspNetCore.Builder.KeepAliveWebApplicationBuilderExtensions (static class)",
                "Microsoft.AspNetCore.Hosting.KeepAliveListenOptionsExtensions (static class)",
                "Microsoft.AspNetCore.Hosting.KeepAliveWebHostBuilderExtensions (static class)",
                "Microsoft.Extensions.Hosting.KeepAliveHostApplicationBuilderExtensions (static class)",
                "OpenTelemetry.Metrics.KeepAliveMeterProviderBuilderExtensions (static class)",
            ],
            PublicSurface.Types(typeof(KeepAliveOptions).Assembly).Select(PublicSurface.Shape).Order(StringComparer.Ordinal));
    }
}
