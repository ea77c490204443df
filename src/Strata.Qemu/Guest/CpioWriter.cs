using System.Text;

namespace Strata.Qemu.Guest;

/// <summary>
/// Writes a cpio archive in the "newc" format the Linux initramfs unpacker reads. Deterministic:
/// the caller picks the order, mtimes are zero, owners are root, inode numbers count up.
/// </summary>
public sealed class CpioWriter(Stream output)
{
    private const int ModeDirectory = 0x4000; // S_IFDIR
    private const int ModeFile = 0x8000;      // S_IFREG
    private const int ModeSymlink = 0xA000;   // S_IFLNK
    private long _written;
    private int _nextInode = 1;

    public void AddDirectory(string path, int permissions = 0x1ED /* 0755 */) =>
        WriteEntry(path, ModeDirectory | permissions, 2, []);

    public void AddFile(string path, ReadOnlySpan<byte> content, int permissions = 0x1A4 /* 0644 */) =>
        WriteEntry(path, ModeFile | permissions, 1, content);

    public void AddSymlink(string path, string target) =>
        WriteEntry(path, ModeSymlink | 0x1FF, 1, Encoding.UTF8.GetBytes(target));

    /// <summary>Writes the trailer. The archive is complete after this.</summary>
    public void Finish() => WriteEntry("TRAILER!!!", 0, 1, [], inode: 0);

    private void WriteEntry(string path, int mode, int links, ReadOnlySpan<byte> content, int? inode = null)
    {
        var name = Encoding.UTF8.GetBytes(path.TrimStart('/'));
        var header = new StringBuilder("070701");
        void Field(long v) => header.Append(v.ToString("X8", System.Globalization.CultureInfo.InvariantCulture));
        Field(inode ?? _nextInode++);
        Field(mode);
        Field(0); // uid
        Field(0); // gid
        Field(links);
        Field(0); // mtime: fixed so the same inputs give the same bytes
        Field(content.Length);
        Field(0); // devmajor
        Field(0); // devminor
        Field(0); // rdevmajor
        Field(0); // rdevminor
        Field(name.Length + 1);
        Field(0); // check
        Write(Encoding.ASCII.GetBytes(header.ToString()));
        Write(name);
        Write([0]);
        Pad();
        Write(content);
        Pad();
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        output.Write(bytes);
        _written += bytes.Length;
    }

    private void Pad()
    {
        var pad = (int)((4 - _written % 4) % 4);
        if (pad > 0)
        {
            Write(new byte[pad]);
        }
    }
}
