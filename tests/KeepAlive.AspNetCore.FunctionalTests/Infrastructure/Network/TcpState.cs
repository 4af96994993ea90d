namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Network;

/// <summary><c>tcpi_state</c>: the kernel's TCP states (include/net/tcp_states.h), the ones the tests meet.</summary>
internal enum TcpState : byte
{
    Established = 1,
    Close = 7,
}
