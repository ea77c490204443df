// The store creates device nodes, sets ownership and overlayfs xattrs: it is Linux-only by design.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
