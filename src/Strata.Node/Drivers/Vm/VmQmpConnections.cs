using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Strata.Contracts;
using Strata.Qemu.Qmp;

namespace Strata.Node.Drivers.Vm;

/// <summary>
/// One QMP connection per running VM, opened on first use and reopened when it closed. QEMU serves one QMP client
/// at a time, so everything this daemon says to a VM goes through here, one command at a time. After a daemon
/// restart the map is empty and the first command reconnects to the same socket: that is the reattach.
/// </summary>
internal sealed class VmQmpConnections : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public Task<JsonElement> ExecuteAsync(string socketPath, string command, JsonObject? arguments, TimeSpan connectTimeout, CancellationToken cancellationToken) =>
        UseAsync(socketPath, connectTimeout, async client =>
        {
            try
            {
                return await client.ExecuteAsync(command, arguments, cancellationToken).ConfigureAwait(false);
            }
            catch (QmpException e)
            {
                throw e.ToStrataException($"QMP {command}");
            }
        }, cancellationToken);

    /// <summary>
    /// Hands the VM's one QMP connection to <paramref name="work"/> for as long as it runs (a live migration reads its
    /// events and polls it throughout); every other command to this VM waits meanwhile.
    /// </summary>
    public async Task<T> UseAsync<T>(string socketPath, TimeSpan connectTimeout, Func<QmpClient, Task<T>> work, CancellationToken cancellationToken)
    {
        var entry = _entries.GetOrAdd(socketPath, static _ => new Entry());
        // Forgetting the VM (it ended) cancels whoever uses it, so nothing waits out a connect timeout on a dead socket.
        using var used = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, entry.Forgotten.Token);
        await entry.Lock.WaitAsync(used.Token).ConfigureAwait(false);
        try
        {
            if (entry.Client is not { IsConnected: true })
            {
                if (entry.Client is not null)
                {
                    await entry.Client.DisposeAsync().ConfigureAwait(false);
                    entry.Client = null;
                }
                entry.Client = await QmpClient.ConnectAsync(socketPath, connectTimeout, used.Token).ConfigureAwait(false);
            }
            return await work(entry.Client).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (entry.Forgotten.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the VM behind {socketPath} ended");
        }
        catch (StrataException e) when (e.Kind == ErrorKind.Cancelled && entry.Forgotten.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new StrataException(ErrorKind.Unavailable, $"the VM behind {socketPath} ended");
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    /// <summary>Runs a human-monitor command (savevm, loadvm, delvm have no plain QMP form in QEMU 7.2) and returns its text.</summary>
    public async Task<string> HumanAsync(string socketPath, string commandLine, CancellationToken cancellationToken)
    {
        var result = await ExecuteAsync(socketPath, "human-monitor-command", new JsonObject { ["command-line"] = commandLine },
            TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        return result.ValueKind == JsonValueKind.String ? result.GetString() ?? "" : "";
    }

    /// <summary>
    /// Closes the VM's connection (it ended, or is removed). A command or connect in flight is cancelled rather than
    /// waited for: the connect retries on a socket whose QEMU is gone would otherwise hold this up to their timeout.
    /// </summary>
    public async Task ForgetAsync(string socketPath)
    {
        if (_entries.TryRemove(socketPath, out var entry))
        {
            await entry.Forgotten.CancelAsync().ConfigureAwait(false);
            await entry.Lock.WaitAsync().ConfigureAwait(false);
            try
            {
                if (entry.Client is not null)
                {
                    await entry.Client.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                entry.Lock.Release();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var key in _entries.Keys.ToList())
        {
            await ForgetAsync(key).ConfigureAwait(false);
        }
    }

    private sealed class Entry
    {
        public SemaphoreSlim Lock { get; } = new(1, 1);
        public QmpClient? Client { get; set; }
        public CancellationTokenSource Forgotten { get; } = new();
    }
}
