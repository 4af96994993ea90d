using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Connections;

namespace KeepAlive.AspNetCore;

/// <summary>
/// The transport as the layers above see it: its input decorated here, the one place the
/// receive error surfaces. The kernel's verdict on a silent peer (a raw <see cref="SocketException"/>,
/// which Kestrel logs as a Warning with a stack trace for every connection of an outage) is wrapped in an
/// <see cref="IOException"/>, which Kestrel logs at Debug and apps already expect from a failed read
/// (a WebSocket still fails with a WebSocketException). Everything else is forwarded untouched; the output is
/// <see cref="KeepAliveConnectionOutput"/>.
/// </summary>
/// <remarks>
/// An idle connection always has a read pending, so what a pending read holds is held by every idle
/// connection: this reader is its own <see cref="IValueTaskSource{TResult}"/> (it keeps the transport's
/// read) instead of an async method, whose state machine box would be held as well (docs/benchmarks.md), and passes the
/// caller's continuation straight to the transport's pipe.
/// </remarks>
internal sealed class KeepAliveConnectionInput(KeepAliveConnection connection) : PipeReader, IDuplexPipe, IValueTaskSource<ReadResult>
{
    private ValueTask<ReadResult> _read;
    private PipeWriter? _output;
    // Only for a reader other than the transport's own pipe (which Kestrel's sockets always are), made on its first
    // read that waits: an idle connection holds one reference for it, not the three it needs.
    private ReadCompletion? _completion;

    PipeReader IDuplexPipe.Input => this;

    PipeWriter IDuplexPipe.Output => _output ??= new KeepAliveConnectionOutput(connection);

    private PipeReader Inner => connection.TransportInput;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<ReadResult> read;
        try
        {
            // A pipe the transport completed with an error throws it synchronously (HTTP/1.1 between requests).
            read = Inner.ReadAsync(cancellationToken);
        }
        catch (Exception ex) when (Seen(ex))
        {
            throw Translate(ex);
        }
        if (read.IsCompletedSuccessfully)
            return read;

        // Pending, or failed: its result goes through GetResult below.
        _read = read;
        return new ValueTask<ReadResult>(this, 0);
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) =>
        !_read.IsCompleted ? ValueTaskSourceStatus.Pending :
        _read.IsCompletedSuccessfully ? ValueTaskSourceStatus.Succeeded :
        _read.IsCanceled ? ValueTaskSourceStatus.Canceled :
        ValueTaskSourceStatus.Faulted;

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        // The transport's pipe is its reads' own source (token 0): hand it the caller's continuation as is, so
        // a waiting read costs what it costs without the decorator. ValueTask equality is source and token.
        if (Inner is IValueTaskSource<ReadResult> source && _read == new ValueTask<ReadResult>(source, 0))
        {
            source.OnCompleted(continuation, state, 0, flags);
            return;
        }

        // Any other reader: wait for its read through one callback, made on the first read that waits.
        (_completion ??= new ReadCompletion()).Await(_read, continuation, state, flags);
    }

    // A read pending when the kernel ends the connection (HTTP/2, WebSockets, TLS) fails here.
    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        var read = _read;
        _read = default;
        try
        {
            return read.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (Seen(ex))
        {
            throw Translate(ex);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        try
        {
            return Inner.TryRead(out result);
        }
        catch (Exception ex) when (Seen(ex))
        {
            throw Translate(ex);
        }
    }

    // Records the error; true when it is the kernel giving up on the peer, to be wrapped.
    private bool Seen(Exception exception)
    {
        // A read its caller canceled (its token) says nothing about the connection, which goes on.
        if (exception is OperationCanceledException and not ConnectionAbortedException)
            return false;
        connection.OnReceiveFailed(exception);
        return exception is SocketException socketException && LostConnectionClassifier.IsKernelVerdict(socketException.SocketErrorCode);
    }

    private static IOException Translate(Exception exception) =>
        new("The peer stopped answering: " + exception.Message, exception);

    public override void AdvanceTo(SequencePosition consumed) => Inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => Inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => Inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => Inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);

    /// <summary>Hands a read of another reader its caller's continuation when it completes, through one callback.</summary>
    private sealed class ReadCompletion
    {
        private readonly Action _onCompleted;
        private Action<object?>? _continuation;
        private object? _state;

        public ReadCompletion() => _onCompleted = OnCompleted;

        public void Await(ValueTask<ReadResult> read, Action<object?> continuation, object? state, ValueTaskSourceOnCompletedFlags flags)
        {
            _continuation = continuation;
            _state = state;
            var awaiter = read.ConfigureAwait((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0).GetAwaiter();
            if ((flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0)
                awaiter.OnCompleted(_onCompleted);
            else
                awaiter.UnsafeOnCompleted(_onCompleted);
        }

        private void OnCompleted()
        {
            var continuation = _continuation!;
            var state = _state;
            _continuation = null;
            _state = null;
            continuation(state);
        }
    }
}
