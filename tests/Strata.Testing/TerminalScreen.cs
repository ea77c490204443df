using System.Text;
using Strata.Client;

namespace Strata.Testing;

/// <summary>What an attached exec's terminal showed, written as it comes, that a test can wait on for a piece of text.</summary>
public sealed class TerminalScreen : Stream
{
    private readonly StringBuilder _text = new();
    private readonly List<(string Needle, TaskCompletionSource Seen)> _waiters = [];

    public string Text
    {
        get
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }
    }

    public Task WaitForAsync(string needle, CancellationToken ct)
    {
        lock (_text)
        {
            if (_text.ToString().Contains(needle, StringComparison.Ordinal))
            {
                return Task.CompletedTask;
            }
            var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((needle, seen));
            return seen.Task.WaitAsync(ct);
        }
    }

    /// <summary>Types <paramref name="keys"/> until <paramref name="expected"/> shows (a terminal's size reaches the command asynchronously).</summary>
    public async Task TypeUntilAsync(ExecAttachment shell, string keys, string expected, CancellationToken ct)
    {
        while (true)
        {
            await shell.SendInputAsync(Encoding.UTF8.GetBytes(keys), ct);
            try
            {
                await WaitForAsync(expected, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(3), ct);
                return;
            }
            catch (TimeoutException)
            {
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        lock (_text)
        {
            _text.Append(Encoding.UTF8.GetString(buffer, offset, count));
            var text = _text.ToString();
            foreach (var w in _waiters.Where(w => text.Contains(w.Needle, StringComparison.Ordinal)).ToList())
            {
                w.Seen.TrySetResult();
                _waiters.Remove(w);
            }
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
