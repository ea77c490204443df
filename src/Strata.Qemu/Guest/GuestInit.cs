namespace Strata.Qemu.Guest;

/// <summary>
/// The guest's <c>/init</c> (busybox sh, PID 1) and the names it shares with the host.
///
/// Channels (virtio-serial ports, found by name under /sys/class/virtio-ports):
///   strata.stdout  - the workload's stdout, byte for byte
///   strata.stderr  - the workload's stderr, byte for byte
///   strata.control - init's reports, one line each: <c>STRATA-EXIT n</c> or <c>STRATA-FAIL why</c>
///   strata.exec    - the exec agent's requests and framed replies (<see cref="ExecAgentScript"/>), when
///                    the kernel command line has <c>strata.exec=1</c> and the guest runs on a root disk
///   timing lines on strata.control: <c>STRATA-TIME kernel|workload|exit SECONDS</c> (guest uptime), for start-up breakdowns
/// The serial console (ttyS0) carries only the kernel's and init's own messages.
///
/// Kernel command line: <c>strata.workload=BASE64</c> (a shell script, see <see cref="GuestWorkload"/>),
/// optional <c>strata.root=/dev/vda</c> (an ext4 root the workload runs chrooted in),
/// <c>strata.net=ADDRESS/PREFIX[,GATEWAY]</c> (init configures eth0, a virtio-net NIC, with it and a default route via
/// GATEWAY), <c>strata.hosts=SERIAL</c> (the virtio-blk disk with that serial holds the network's hosts list; init keeps
/// /etc/hosts a copy of it, and when its line <c># strata-net ADDRESS/PREFIX[,GATEWAY]</c> changes, as after a live move
/// to another node's network, gives eth0 that address and route instead), <c>strata.mounts=BASE64</c> (lines <c>TAG ro|rw dir|file PATH</c>: virtio-fs shares init mounts before the workload starts;
/// a <c>file</c> share is mounted at /strata/fs/TAG, outside the workload's root, and its one file bind-mounted onto PATH; see
/// <see cref="GuestMount"/>), <c>strata.hostname=NAME</c>, <c>strata.mac=MAC</c> (given to eth0 before it comes up),
/// <c>strata.fsplug=1</c> (the virtio-fs shares are plugged into PCIe slots after a restore: init turns the slots on and rescans first),
/// <c>strata.template=1</c> (template mode: wait for the parameters on <see cref="SetupPort"/>, together with
/// <c>strata.seed=BASE64</c> and <c>strata.time=EPOCH</c>; <c>strata.keepballoon=1</c> keeps the balloon driver loaded for the save), <c>strata.probe=1</c> (print <see cref="ProbeMarker"/> on the console and reboot at once).
///
/// Stop: an ACPI power-button press (QMP <c>system_powerdown</c>) makes init send SIGTERM to the workload; it then
/// reports the workload's own exit code as usual. The button and evdev modules load in the background, off the
/// boot path.
/// </summary>
public static class GuestInit
{
    /// <summary>Bumped whenever the script or the initramfs layout changes (part of the cache key).</summary>
    public const int Version = 15;

    public const string StdoutPort = "strata.stdout";
    public const string StderrPort = "strata.stderr";
    public const string ControlPort = "strata.control";
    public const string ExecPort = "strata.exec";
    /// <summary>Template mode only: the host's one line of parameters for this start (see <see cref="Templates"/>).</summary>
    public const string SetupPort = "strata.setup";
    /// <summary>Written on the control port when a template-mode guest waits for its parameters (the moment it is saved).</summary>
    public const string ReadyLine = "STRATA-READY";
    /// <summary>Written back on the setup port once the parameters are in place (random generator reseeded, clock set).</summary>
    public const string SetupAck = "STRATA-SETUP-OK";
    public const string ProbeMarker = "STRATA-PROBE-OK";
    /// <summary>The virtio-blk serial of the names disk (<c>strata.hosts=</c> names it; see <see cref="GuestNetwork"/>).</summary>
    public const string NamesDiskSerial = "strata-hosts";
    public const string ExitPrefix = "STRATA-EXIT ";
    public const string FailPrefix = "STRATA-FAIL ";
    public const string TimePrefix = "STRATA-TIME ";
    /// <summary>Modules (in load order) that init loads only when the guest has virtio-fs mounts.</summary>
    public const string VirtioFsModulesPath = "etc/strata/modules-virtiofs";
    /// <summary>Modules (in load order) for the ACPI power button, loaded in the background.</summary>
    public const string PowerButtonModulesPath = "etc/strata/modules-power";
    /// <summary>Where the initramfs keeps <see cref="ExecAgentScript"/>.</summary>
    public const string ExecAgentPath = "etc/strata/exec-agent.sh";

    public const string Script = """
        #!/bin/busybox sh
        # Strata guest init. PID 1: it must never exit (that panics the kernel); it reboots instead,
        # and QEMU runs with -no-reboot, so a reboot ends the VM.
        /bin/busybox mkdir -p /proc /sys /dev /tmp /newroot /strata /usr/bin /sbin /usr/sbin
        /bin/busybox --install -s
        export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        mount -t proc proc /proc
        read -r t0 _ < /proc/uptime
        cmdline=$(cat /proc/cmdline)
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        mount -t tmpfs tmpfs /tmp

        # Parameters come from the kernel command line, or in template mode from the host's setup line; read once into
        # $cmdline (a restored guest runs under TCG with no translated code yet: every program started costs).
        param() {
          for w in $cmdline; do
            case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
          done
          return 1
        }
        # The same without a subshell: sets $pv. A fork costs dearly in a guest just resumed under TCG (none of the
        # shell's code is translated yet), so the path from a start's parameters to its workload uses this one.
        getp() {
          pv=
          for w in $cmdline; do
            case "$w" in "$1="*) pv=${w#*=}; return 0 ;; esac
          done
          return 1
        }

        finish() { sync; reboot -f; while true; do sleep 1; done; }

        if param strata.probe >/dev/null; then
          echo "STRATA-PROBE-OK" > /dev/console
          finish
        fi

        for m in $(cat /etc/strata/modules 2>/dev/null); do
          insmod "/lib/modules/$m.ko" 2>/dev/null
        done
        read -r tm _ < /proc/uptime

        port() {
          for p in /sys/class/virtio-ports/*; do
            [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
          done
          return 1
        }

        # Devices are probed asynchronously after insmod; wait up to 10 s for the control port.
        i=0
        while ! ctl=$(port strata.control) || [ ! -e "$ctl" ]; do
          i=$((i+1)); [ $i -gt 1000 ] && break
          usleep 10000
        done
        [ -n "$ctl" ] && [ -e "$ctl" ] || ctl=/dev/console
        echo "STRATA-TIME kernel $t0" > "$ctl"
        mark() { read -r up _ < /proc/uptime; echo "STRATA-TIME $1 $up" > "$ctl"; }

        # Graceful stop: the host presses the ACPI power button; the workload gets SIGTERM. /strata/stop covers a
        # press before the workload started.
        stopnow() { touch /strata/stop; [ -f /strata/workload.pid ] && kill -TERM "$(cat /strata/workload.pid)" 2>/dev/null; }
        powerwatch() {
          for m in $(cat /etc/strata/modules-power 2>/dev/null); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
          i=0
          while :; do
            found=
            for e in /sys/class/input/event*; do
              d="/dev/input/${e##*/}"
              [ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ] && [ -c "$d" ] && found="$found $d"
            done
            [ -n "$found" ] && break
            i=$((i+1)); [ $i -gt 500 ] && return
            usleep 10000
          done
          # A read of an input device blocks until an event: the press.
          for d in $found; do
            { dd if="$d" of=/dev/null bs=64 count=1 2>/dev/null && stopnow; } &
          done
        }
        powerwatch < /dev/null > /dev/null 2>&1 &

        fail() {
          echo "strata-init: $*" > /dev/console
          echo "STRATA-FAIL $*" > "$ctl"
          finish
        }

        # Template mode (docs/sandbox.md#templates): the guest boots this far once, before anything of a workload is
        # known, and is saved while it waits here. Every start from the template resumes in this loop and receives its
        # own parameters (the words the command line would carry) as one base64 line on the strata.setup port.
        if param strata.template >/dev/null; then
          sp=$(port strata.setup) || fail "no strata.setup port"
          exec 6<>"$sp" || fail "cannot open the strata.setup port"
          # What needs nothing of a workload is done before the save, so no start from the template repeats it: the
          # ports, the loopback device, and the tmpfs with busybox and the exec agent that becomes the root's /.strata.
          out=$(port strata.stdout); err=$(port strata.stderr); xp=$(port strata.exec)
          ip link set lo up 2>/dev/null
          mkdir -p /strata/stage && mount -t tmpfs -o mode=0755 strata /strata/stage \
            && cp /bin/busybox /etc/strata/exec-agent.sh /strata/stage/ || fail "cannot stage busybox for the workload's root"
          # A balloon with free-page reporting reports the free pages 2 s after its driver started, and QEMU punches
          # them out of the template's memory file. A clone maps that file privately, and QEMU 7.2 would punch a clone's
          # freed pages out of the shared file as well, so the driver goes before the save: clones never report.
          # strata.keepballoon=1 (the vm tier, whose clones get anonymous RAM and resize through the balloon) keeps it.
          if ! param strata.keepballoon >/dev/null; then
            for b in /sys/bus/virtio/drivers/virtio_balloon/virtio*; do
              [ -e "$b" ] || continue
              until awk -v t="$tm" '{ exit !($1 >= t + 3) }' /proc/uptime; do usleep 100000; done
            done
            if grep -q '^virtio_balloon ' /proc/modules; then
              rmmod virtio_balloon || fail "cannot unload the balloon driver before the template is saved"
            fi
          fi
          echo "STRATA-READY" > "$ctl"
          setup=
          # A port reads end-of-file while no host is connected.
          until IFS= read -r setup <&6 && [ -n "$setup" ]; do usleep 5000; done
          mark setup
          cmdline=$(echo "$setup" | base64 -d) || fail "the setup line is not valid base64"
          # Two starts of one template must never share random state: mix the host's seed in and rekey at once.
          getp strata.seed || fail "no strata.seed in the setup line"
          r=$(echo "$pv" | base64 -d | /bin/strata-reseed 2>&1; echo " $?")
          [ "$r" = " 0" ] || fail "cannot reseed the kernel's random generator (errno${r})"
          pv=
          if getp strata.time; then date -s "@$pv" > /dev/null 2>&1 || fail "cannot set the clock to $pv"; fi
          echo "STRATA-SETUP-OK" >&6
          exec 6<&-
        fi
        if getp strata.hostname; then echo "$pv" > /proc/sys/kernel/hostname; fi

        [ -e /strata/stage ] || ip link set lo up 2>/dev/null
        if getp strata.net; then
          net=$pv
          addr=${net%%,*}
          gw=
          case "$net" in *,*) gw=${net#*,} ;; esac
          i=0
          while [ ! -e /sys/class/net/eth0 ]; do
            i=$((i+1)); [ $i -gt 1000 ] && fail "the network device eth0 did not appear (virtio_net)"
            usleep 10000
          done
          if getp strata.mac; then ip link set eth0 address "$pv" || fail "cannot give eth0 the MAC address $pv"; fi
          ip addr add "$addr" dev eth0 && ip link set eth0 up || fail "cannot give eth0 the address $addr"
          if [ -n "$gw" ]; then ip route add default via "$gw" || fail "cannot add a default route via $gw"; fi
          echo "$net" > /strata/net.cur
        fi

        [ -n "$out" ] || out=$(port strata.stdout) || fail "no strata.stdout port"
        [ -n "$err" ] || err=$(port strata.stderr) || fail "no strata.stderr port"
        getp strata.workload || fail "no strata.workload on the kernel command line"
        # Straight into the staged /.strata when there is one (no copy later); a here-document, not a pipe: one process.
        wf=/strata/workload.sh
        [ -e /strata/stage/busybox ] && wf=/strata/stage/workload.sh
        base64 -d > "$wf" <<EOF || fail "strata.workload is not valid base64"
        $pv
        EOF

        if getp strata.root; then
          root=$pv
          i=0
          while [ ! -b "$root" ]; do
            i=$((i+1)); [ $i -gt 1000 ] && fail "root disk $root did not appear"
            usleep 10000
          done
          mount -t ext4 "$root" /newroot || fail "cannot mount $root as ext4"
          mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/.strata 2>/dev/null
          mount -t proc proc /newroot/proc
          mount -t sysfs sysfs /newroot/sys
          mount -t devtmpfs devtmpfs /newroot/dev 2>/dev/null
          # Terminals for exec -t (the exec agent's telnetd opens /dev/ptmx, whose instance is the devpts beside it).
          mkdir -p /newroot/dev/pts && mount -t devpts -o mode=0620,ptmxmode=0666 devpts /newroot/dev/pts 2>/dev/null
          # The workload script and a shell to read it live on a tmpfs, so the root needs no shell of its own.
          [ -d /newroot/.strata ] || fail "cannot create /.strata on the root disk"
          if [ -e /strata/stage/busybox ]; then
            mount --move /strata/stage /newroot/.strata || fail "cannot move the staged busybox to /.strata"
          else
            mount -t tmpfs -o mode=0755 strata /newroot/.strata
            cp /bin/busybox /strata/workload.sh /etc/strata/exec-agent.sh /newroot/.strata/
          fi
          prefix=/newroot
        else
          prefix=
        fi

        if getp strata.mounts; then
          mounts=$pv
          for m in $(cat /etc/strata/modules-virtiofs 2>/dev/null); do insmod "/lib/modules/$m.ko" 2>/dev/null; done
          echo "$mounts" | base64 -d > /strata/mounts || fail "strata.mounts is not valid base64"
          plug=
          if param strata.fsplug >/dev/null; then
            # A restore from a template: the shares were plugged into PCIe root ports after the guest resumed. Their
            # slots were empty at boot, so they are powered off, and this kernel leaves PCIe hot-plug to the firmware,
            # which a microvm has none of: turn each slot on (Slot Control, power on, indicator on), then rescan.
            plug=1
            cfgbyte() { od -An -tu$2 -j"$1" -N$2 "$hpc" | tr -d ' '; }
            for hpd in /sys/bus/pci/devices/*; do
              [ "$(cat "$hpd/class")" = 0x060400 ] || continue
              hpc=$hpd/config; hpo=$(cfgbyte 52 1)
              while [ "${hpo:-0}" -ne 0 ] && [ "$(cfgbyte "$hpo" 1)" -ne 16 ]; do hpo=$(cfgbyte $((hpo+1)) 1); done
              [ "${hpo:-0}" -ne 0 ] || continue
              hps=$((hpo+24)); hpv=$(cfgbyte $hps 2); hpv=$(( (hpv & ~0x700) | 0x100 ))
              printf "$(printf '\\%03o\\%03o' $((hpv & 255)) $((hpv >> 8)))" | dd of="$hpc" bs=1 seek=$hps conv=notrunc 2>/dev/null \
                || fail "cannot turn on the PCIe slot $hpd for the shares"
            done
            echo 1 > /sys/bus/pci/rescan || fail "cannot rescan the PCI bus for the shares"
          fi
          # vfsmount TAG ro|rw DIR; a plugged share may take a moment to be probed.
          vfsmount() {
            n=0
            while [ -n "$plug" ] && [ $n -lt 500 ] && ! mount -t virtiofs -o "$2" "$1" "$3" 2>/dev/null; do n=$((n+1)); usleep 10000; done
            [ -n "$plug" ] && [ $n -lt 500 ] && return 0
            mount -t virtiofs -o "$2" "$1" "$3"
          }
          while read -r tag mode kind path; do
            [ -n "$tag" ] || continue
            if [ "$kind" = file ]; then
              t="$prefix$path"
              mkdir -p "/strata/fs/$tag" && vfsmount "$tag" "$mode" "/strata/fs/$tag" || fail "cannot mount the host file's share ($tag)"
              d=${t%/*}; mkdir -p "${d:-/}" && { [ -e "$t" ] || : > "$t"; } && mount --bind "/strata/fs/$tag/file" "$t" || fail "cannot mount the host file ($tag) at $path"
              [ "$mode" = rw ] || mount -o remount,bind,ro "$t" || fail "cannot make $path read-only"
            else
              mkdir -p "$prefix$path" && vfsmount "$tag" "$mode" "$prefix$path" || fail "cannot mount the host directory ($tag) at $path"
            fi
          done < /strata/mounts
        fi

        # Names of the network's members (docs/network.md): a read-only disk the host rewrites in place. Copied to
        # /etc/hosts before the workload starts, then re-read every second; O_DIRECT, because the guest's page cache
        # would hide the host's rewrite, and a copy whose checksum does not match (read mid-rewrite) is skipped.
        if getp strata.hosts; then
          hs=$pv
          disk() { for b in /sys/block/vd*; do [ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${b##*/}"; return 0; }; done; return 1; }
          i=0
          while ! hd=$(disk "$hs") || [ ! -b "$hd" ]; do
            i=$((i+1)); [ $i -gt 1000 ] && fail "the names disk ($hs) did not appear"
            usleep 10000
          done
          hostsync() {
            dd if="$hd" of=/strata/hosts.raw bs=65536 count=1 iflag=direct 2>/dev/null || return 1
            cmp -s /strata/hosts.raw /strata/hosts.last && return 0
            tr -d '\000' < /strata/hosts.raw > /strata/hosts.new
            sum=$(sed -n '1s/^# strata-hosts //p' /strata/hosts.new)
            [ -n "$sum" ] && [ "$(sed 1d /strata/hosts.new | md5sum)" = "$sum  -" ] || return 1
            mkdir -p "$prefix/etc" && cp /strata/hosts.new "$prefix/etc/.hosts.strata" && mv -f "$prefix/etc/.hosts.strata" "$prefix/etc/hosts" \
              && mv -f /strata/hosts.raw /strata/hosts.last || return 1
            # The guest's own address (its second line, the form of strata.net): a guest moved live to a node whose
            # network does not hold its old address is given a new one there (docs/move.md).
            nn=$(sed -n '2s/^# strata-net //p' /strata/hosts.new)
            if [ -n "$nn" ] && [ -e /strata/net.cur ] && [ "$nn" != "$(cat /strata/net.cur)" ]; then
              na=${nn%%,*}; ng=
              case "$nn" in *,*) ng=${nn#*,} ;; esac
              ip addr flush dev eth0 && ip addr add "$na" dev eth0 && ip link set eth0 up \
                && { [ -z "$ng" ] || { ip route del default 2>/dev/null; ip route add default via "$ng"; }; } && echo "$nn" > /strata/net.cur
            fi
            return 0
          }
          i=0
          until hostsync; do i=$((i+1)); [ $i -gt 100 ] && break; usleep 10000; done
          (while :; do sleep 1; hostsync; done) < /dev/null > /dev/null 2>&1 &
        fi

        [ -f /strata/stop ] && { echo "STRATA-FAIL stopped before the workload started" > "$ctl"; finish; }
        if [ -n "$prefix" ]; then
          mark workload
          chroot /newroot /.strata/busybox sh /.strata/workload.sh < /dev/null > "$out" 2> "$err" &
          wpid=$!
          # The exec agent starts after the workload, so on the one vCPU the workload gets going first.
          if param strata.exec >/dev/null && { [ -n "$xp" ] || xp=$(port strata.exec); }; then
            chroot /newroot /.strata/busybox sh /.strata/exec-agent.sh "$xp" < /dev/null > /dev/null 2>&1 &
          fi
        else
          cd /
          mark workload
          sh "$wf" < /dev/null > "$out" 2> "$err" &
          wpid=$!
        fi
        echo "$wpid" > /strata/workload.pid
        [ -f /strata/stop ] && kill -TERM "$wpid"
        wait "$wpid"
        code=$?
        mark exit
        echo "STRATA-EXIT $code" > "$ctl"
        finish
        """;

    /// <summary>
    /// The exec agent, run by init inside the workload's root (<c>/.strata</c> holds busybox) with the
    /// <c>strata.exec</c> port as its argument. Requests, one line each (words separated by one space; BASE64 is a
    /// <see cref="GuestWorkload"/> script):
    /// <list type="bullet">
    /// <item><c>ID BASE64</c> - run without input (stdin /dev/null);</item>
    /// <item><c>ID i BASE64</c> - run with input on a pipe; <c>ID 0 BASE64</c> lines carry it, <c>ID E -</c> ends it;</item>
    /// <item><c>ID t BASE64 COLS ROWS</c> - run on a terminal (busybox <c>telnetd -i</c> on a pty of that size; input and
    /// output are the telnet protocol, spoken by the host: <see cref="GuestTerminal"/>); <c>ID W COLS ROWS</c> resizes it;</item>
    /// <item><c>ID K -</c> - end the command (its client went away).</item>
    /// </list>
    /// Replies, one line each (one write, so lines of concurrent requests never interleave): <c>ID 1 BASE64</c>
    /// stdout bytes, <c>ID 2 BASE64</c> stderr bytes, <c>ID X CODE</c> last. Reading the port returns end-of-file
    /// while no host is connected: the agent then ends every command that has input (its host is gone) and polls
    /// every 200 ms; while a host is connected a read blocks.
    /// </summary>
    public const string ExecAgentScript = """
        bb=/.strata/busybox
        exec 5<>"$1" || exit 1
        pump() {
          while :; do
            c=$($bb dd bs=3072 count=1 2>/dev/null | $bb base64 -w 0)
            [ -n "$c" ] || break
            echo "$1 $2 $c" >&5
          done
        }
        # run ID BASE64 MODE [COLS ROWS]: MODE n (no input), i (input on the pipe d/i), t (a terminal).
        run() {
          d=/.strata/x.$1
          $bb mkdir -p "$d" && echo "$2" | $bb base64 -d > "$d/s" && $bb mkfifo "$d/o" "$d/e" || { echo "$1 X 126" >&5; return; }
          pump "$1" 1 < "$d/o" &
          p1=$!
          pump "$1" 2 < "$d/e" &
          p2=$!
          if [ "$3" = n ]; then
            $bb sh "$d/s" < /dev/null > "$d/o" 2> "$d/e"
            code=$?
          else
            if [ "$3" = t ]; then
              # telnetd runs this on the terminal's side, as the session leader; the command's exit code goes to d/x.
              { echo "#!$bb sh"
                echo "trap : INT QUIT"
                echo "tty > $d/t"
                [ "$4" -gt 0 ] && [ "$5" -gt 0 ] && echo "$bb stty cols $4 rows $5"
                echo "export TERM=xterm"
                echo "$bb sh $d/s"
                echo "echo \$? > $d/x"
              } > "$d/l" && $bb chmod 700 "$d/l"
              $bb telnetd -i -f /dev/null -l "$d/l" < "$d/i" > "$d/o" 2> "$d/e" &
            else
              $bb sh "$d/s" < "$d/i" > "$d/o" 2> "$d/e" &
            fi
            echo $! > "$d/p"
            wait $!
            code=$?
            if [ "$3" = t ]; then code=$($bb cat "$d/x" 2>/dev/null) || code=129; fi
            $bb kill "$($bb cat "$d/k")" 2>/dev/null
          fi
          wait $p1 $p2
          # Gone before the exit is told: the host may reuse the id at once (a guest moved to another host starts its
          # ids again at 1), and a directory left behind would fail that command with 126.
          $bb rm -rf "$d"
          echo "$1 X $code" >&5
        }
        # A command with input gets its pipe, and a holder of the pipe's other end (so the command sees the end of
        # its input only when the host says so), before the next request line is read: input may follow at once.
        open_input() {
          d=/.strata/x.$1
          $bb mkdir -p "$d" && $bb mkfifo "$d/i" || return 1
          { : > "$d/r"; exec $bb sleep 2147483647; } 1<>"$d/i" &
          echo $! > "$d/k"
          i=0
          while [ ! -e "$d/r" ] && [ $i -lt 500 ]; do i=$((i+1)); $bb usleep 2000; done
        }
        gone() {
          for k in /.strata/x.*/k; do
            [ -f "$k" ] && $bb kill "$($bb cat "${k%/k}/p" 2>/dev/null)" "$($bb cat "$k")" 2>/dev/null
          done
        }
        while :; do
          if IFS= read -r line <&5; then
            set -- $line
            case "$#:$2" in
              2:*) run "$1" "$2" n & ;;
              3:i) if open_input "$1"; then run "$1" "$3" i & else echo "$1 X 126" >&5; fi ;;
              5:t) if open_input "$1"; then run "$1" "$3" t "$4" "$5" & else echo "$1 X 126" >&5; fi ;;
              3:0) [ -p "/.strata/x.$1/i" ] && echo "$3" | $bb base64 -d 1<>"/.strata/x.$1/i" ;;
              4:W) [ -s "/.strata/x.$1/t" ] && $bb stty -F "$($bb cat "/.strata/x.$1/t")" cols "$3" rows "$4" ;;
              3:E) [ -f "/.strata/x.$1/k" ] && $bb kill "$($bb cat "/.strata/x.$1/k")" ;;
              3:K) [ -f "/.strata/x.$1/p" ] && $bb kill "$($bb cat "/.strata/x.$1/p")" ;;
            esac
          else
            gone
            $bb usleep 200000
          fi
        done
        """;
}
