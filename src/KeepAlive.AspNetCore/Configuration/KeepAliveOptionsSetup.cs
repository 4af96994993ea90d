using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace KeepAlive.AspNetCore;

/// <summary>Binds <see cref="KeepAliveOptions"/> from the <c>KeepAlive</c> configuration section.</summary>
internal sealed class KeepAliveOptionsSetup(IConfiguration configuration) : IConfigureOptions<KeepAliveOptions>
{
    public void Configure(KeepAliveOptions options) =>
        KeepAliveConfiguration.Bind(configuration.GetSection(KeepAliveOptions.SectionName), options);
}
