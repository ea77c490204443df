namespace Strata.Qemu.Guest;

/// <summary>
/// <c>/bin/strata-reseed</c> in the initramfs: a tiny static x86-64 Linux program (135 bytes of machine code) that
/// reads a seed of 32 to 64 bytes from its stdin, adds it to the kernel's entropy pool with <c>RNDADDENTROPY</c>
/// (credited, so a generator that was not yet initialised becomes so from it) and then forces the random generator
/// to rekey at once with <c>RNDRESEEDCRNG</c>. Init runs it with the host's fresh seed right after a guest resumes
/// from a template: without it the guest would keep the template's generator key until the next timed reseed, and
/// two starts of one template could draw the same numbers. Busybox has no applet for an ioctl, hence this program.
/// Exit code 0, or the errno of the failing call (22 for a seed shorter than 32 bytes).
/// </summary>
public static class GuestReseed
{
    public const string GuestPath = "bin/strata-reseed";

    private const ulong LoadAddress = 0x400000;
    private const int HeaderSize = 64 + 56;
    /// <summary>The pool buffer (<c>struct rand_pool_info</c>: count, size, then the seed) lives at this address, past the file's end.</summary>
    private const int BufferOffset = 0x100;
    private const int BufferSize = 0x60;

    // Assembled from (intel syntax; buf = LoadAddress + BufferOffset, path = the string at the end):
    //   xor edi,edi; lea rsi,[buf+8]; mov edx,64; xor eax,eax; syscall          ; n = read(0, buf.seed, 64)
    //   cmp eax,32; jl short                                                    ; at least 256 bits
    //   lea rsi,[buf]; mov [rsi+4],eax; shl eax,3; mov [rsi],eax                ; buf_size = n; entropy_count = 8n
    //   mov eax,2; lea rdi,[path]; mov esi,1; xor edx,edx; syscall              ; fd = open("/dev/urandom", O_WRONLY)
    //   test eax,eax; js fail; mov ebx,eax
    //   mov edi,eax; mov eax,16; mov esi,0x40085203; lea rdx,[buf]; syscall     ; ioctl(fd, RNDADDENTROPY, buf)
    //   test eax,eax; js fail
    //   mov edi,ebx; mov eax,16; mov esi,0x5207; syscall; jmp fail              ; ioctl(fd, RNDRESEEDCRNG)
    //   short: mov eax,-22
    //   fail: mov edi,eax; neg edi; mov eax,60; syscall                         ; exit(-result)
    private static readonly byte[] Code =
    [
        0x31, 0xff, 0x48, 0x8d, 0x35, 0x87, 0x00, 0x00, 0x00, 0xba, 0x40, 0x00,
        0x00, 0x00, 0x31, 0xc0, 0x0f, 0x05, 0x83, 0xf8, 0x20, 0x7c, 0x53, 0x48,
        0x8d, 0x35, 0x6a, 0x00, 0x00, 0x00, 0x89, 0x46, 0x04, 0xc1, 0xe0, 0x03,
        0x89, 0x06, 0xb8, 0x02, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x3d, 0x48, 0x00,
        0x00, 0x00, 0xbe, 0x01, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x05, 0x85,
        0xc0, 0x78, 0x30, 0x89, 0xc3, 0x89, 0xc7, 0xb8, 0x10, 0x00, 0x00, 0x00,
        0xbe, 0x03, 0x52, 0x08, 0x40, 0x48, 0x8d, 0x15, 0x34, 0x00, 0x00, 0x00,
        0x0f, 0x05, 0x85, 0xc0, 0x78, 0x15, 0x89, 0xdf, 0xb8, 0x10, 0x00, 0x00,
        0x00, 0xbe, 0x07, 0x52, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0x05, 0xb8, 0xea,
        0xff, 0xff, 0xff, 0x89, 0xc7, 0xf7, 0xdf, 0xb8, 0x3c, 0x00, 0x00, 0x00,
        0x0f, 0x05, 0x2f, 0x64, 0x65, 0x76, 0x2f, 0x75, 0x72, 0x61, 0x6e, 0x64,
        0x6f, 0x6d, 0x00,
    ];

    /// <summary>The whole ELF file: header, one loadable read-write-execute segment (the code, then the buffer), the code.</summary>
    public static byte[] Elf()
    {
        using var bytes = new MemoryStream();
        using (var w = new BinaryWriter(bytes))
        {
            var fileSize = (ulong)(HeaderSize + Code.Length);
            w.Write([0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 64-bit, little-endian, SysV
            w.Write((ushort)2);          // ET_EXEC
            w.Write((ushort)0x3e);       // x86-64
            w.Write(1u);                 // version
            w.Write(LoadAddress + HeaderSize); // entry: the code right after the headers
            w.Write(64UL);               // program headers right after this header
            w.Write(0UL);                // no section headers
            w.Write(0u);                 // flags
            w.Write((ushort)64);         // header size
            w.Write((ushort)56);         // program header size
            w.Write((ushort)1);          // one program header
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write((ushort)0);
            w.Write(1u);                 // PT_LOAD
            w.Write(7u);                 // R + W + X (the buffer shares the segment)
            w.Write(0UL);                // from the start of the file
            w.Write(LoadAddress);
            w.Write(LoadAddress);
            w.Write(fileSize);
            w.Write((ulong)(BufferOffset + BufferSize)); // the buffer is zero-filled memory past the file's end
            w.Write(0x1000UL);
            w.Write(Code);
        }
        return bytes.ToArray();
    }
}
