namespace Strata.Qemu.Guest;

/// <summary>
/// The host's side of a sandbox terminal (<c>exec -t</c>). The guest's exec agent runs the command under busybox
/// <c>telnetd -i</c>, which gives it a pty and speaks the telnet protocol on its stdin and stdout (busybox has no other
/// applet that opens a pty). So the host doubles 0xFF in what it types (<see cref="EncodeInput"/>) and reads the
/// output through <see cref="OutputDecoder"/>, which turns doubled 0xFF back into one and drops option negotiation.
/// Two things telnetd does that stay visible: it turns a typed CR LF or CR NUL into a lone CR (the telnet end of
/// line), and before the command starts it prints one empty line, which the decoder drops.
/// </summary>
public static class GuestTerminal
{
    private const byte Iac = 0xFF;
    private const byte Sb = 250;
    private const byte Se = 240;
    private const byte Will = 251;
    private const byte Dont = 254;

    /// <summary>What telnetd writes before the command runs (its login banner's new line through the pty's ONLCR).</summary>
    private static readonly byte[] LeadingLine = "\r\r\n"u8.ToArray();

    /// <summary>Typed bytes as telnetd expects them: 0xFF doubled.</summary>
    public static byte[] EncodeInput(ReadOnlySpan<byte> typed)
    {
        var count = 0;
        foreach (var b in typed)
        {
            count += b == Iac ? 2 : 1;
        }
        var encoded = new byte[count];
        var i = 0;
        foreach (var b in typed)
        {
            encoded[i++] = b;
            if (b == Iac)
            {
                encoded[i++] = Iac;
            }
        }
        return encoded;
    }

    /// <summary>telnetd's output back to what the terminal showed; keeps its state between chunks.</summary>
    public sealed class OutputDecoder
    {
        private enum State { Data, Command, Option, Sub, SubCommand }

        private State _state;
        /// <summary>How much of <see cref="LeadingLine"/> has been seen; -1 once past it.</summary>
        private int _leading;

        /// <summary>Decodes <paramref name="input"/>; returns the terminal's bytes.</summary>
        public byte[] Decode(ReadOnlySpan<byte> input)
        {
            var output = new List<byte>(input.Length + LeadingLine.Length);
            foreach (var b in input)
            {
                switch (_state)
                {
                    case State.Data when b == Iac:
                        _state = State.Command;
                        break;
                    case State.Data:
                        Emit(output, b);
                        break;
                    case State.Command when b == Iac:
                        Emit(output, b);
                        _state = State.Data;
                        break;
                    case State.Command when b == Sb:
                        _state = State.Sub;
                        break;
                    case State.Command:
                        _state = b is >= Will and <= Dont ? State.Option : State.Data;
                        break;
                    case State.Option:
                        _state = State.Data;
                        break;
                    case State.Sub:
                        _state = b == Iac ? State.SubCommand : State.Sub;
                        break;
                    case State.SubCommand:
                        _state = b == Se ? State.Data : State.Sub;
                        break;
                }
            }
            return [.. output];
        }

        private void Emit(List<byte> output, byte b)
        {
            if (_leading >= 0)
            {
                if (b == LeadingLine[_leading])
                {
                    _leading++;
                    if (_leading == LeadingLine.Length)
                    {
                        _leading = -1;
                    }
                    return;
                }
                output.AddRange(LeadingLine.AsSpan(0, _leading));
                _leading = -1;
            }
            output.Add(b);
        }
    }
}
