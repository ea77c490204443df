using Microsoft.Extensions.Logging;
using Strata.Contracts;

namespace Strata.Images;

// The image store's log lines: EventIds 5000-5099 (docs/contributing.md, "Logging").
public sealed partial class ImageStore
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "image {Name} stored: manifest {Manifest}, {Kind}, layers: {Layers}")]
    private partial void LogStored(string name, Digest manifest, int layers, ImageKind kind);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information,
        Message = "pulled {Name} from {Registry}: {Fetched} blobs fetched ({Bytes} bytes), {Present} already present, in {Ms} ms")]
    private partial void LogPulled(string name, string registry, int fetched, long bytes, int present, long ms);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "pushed {Name} to {Remote} (manifest {Manifest})")]
    private partial void LogPushed(string name, string remote, Digest manifest);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Debug, Message = "layer {Blob} unpacked as {DiffId} in {Ms} ms")]
    private partial void LogLayerUnpacked(Digest blob, Digest diffId, long ms);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "layer {Blob} could not be unpacked; its partial directory is removed: {Reason}")]
    private partial void LogUnpackFailedCore(Digest blob, string reason);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Information, Message = "image {Source} tagged {Target}")]
    private partial void LogTagged(string source, string target);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Information, Message = "image names removed: {Names} (force: {Force})")]
    private partial void LogRemoved(string names, bool force);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Information,
        Message = "image garbage collection removed {Blobs} blobs and {Layers} layers ({Bytes} bytes); {InUse} unnamed layers kept for instances")]
    private partial void LogCollected(int blobs, int layers, long bytes, int inUse);

    /// <summary>Logs from an exception filter (so the line names the layer before the error is translated); always false.</summary>
    private bool LogUnpackFailed(Digest blob, Exception e)
    {
        if (e is not OperationCanceledException)
        {
            LogUnpackFailedCore(blob, e.Message);
        }
        return false;
    }
}
