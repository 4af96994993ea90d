namespace KeepAlive.AspNetCore;

/// <summary>Endpoint metadata naming the keepalive policy a request's connection gets.</summary>
public interface IKeepAlivePolicyMetadata
{
    /// <summary>The name of a policy in <c>KeepAlive:Policies</c>.</summary>
    string PolicyName { get; }
}
