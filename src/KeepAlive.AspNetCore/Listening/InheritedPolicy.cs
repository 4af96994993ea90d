namespace KeepAlive.AspNetCore;

/// <summary>What a socket starts with from the listening socket that accepted it (Linux copies a listening socket's options).</summary>
internal enum InheritedPolicy
{
    /// <summary>The kernel's defaults: its listening socket has no policy on it.</summary>
    KernelDefaults,

    /// <summary>The policy being applied: it needs no option set.</summary>
    ThisPolicy,

    /// <summary>Perhaps another policy (an earlier default, queued before a reload changed it): every option is set, an explicit "off" included.</summary>
    Unknown,
}
