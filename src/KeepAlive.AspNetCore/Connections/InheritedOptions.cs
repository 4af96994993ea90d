namespace KeepAlive.AspNetCore;

/// <summary>What an accepted socket has from its listening socket (Linux copies a listening socket's options).</summary>
internal enum InheritedOptions
{
    /// <summary>Nothing: its listening socket has no policy on it; the socket starts with the kernel's defaults.</summary>
    None,

    /// <summary>The options of the policy being applied.</summary>
    This,

    /// <summary>Maybe another policy's (an earlier default): all options are set, an explicit "off" included.</summary>
    Other,
}
