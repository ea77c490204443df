using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Strata.Node.Tests")]
[assembly: InternalsVisibleTo("Strata.Sandbox.Tests")]
[assembly: InternalsVisibleTo("Strata.Vm.Tests")]
