namespace KeepAlive.AspNetCore;

/// <summary>
/// Applies the named keepalive policy to the connection of each request that reaches this controller or
/// action, for as long as the connection lives (with <c>app.UseKeepAliveRoutePolicies()</c>). On HTTP/2,
/// where streams share a connection, the connection gets the policy of the last such request.
/// </summary>
/// <param name="policyName">The name of a policy in <c>KeepAlive:Policies</c>.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class KeepAlivePolicyAttribute(string policyName) : Attribute, IKeepAlivePolicyMetadata
{
    /// <summary>The name of a policy in <c>KeepAlive:Policies</c>.</summary>
    public string PolicyName { get; } = policyName;
}
