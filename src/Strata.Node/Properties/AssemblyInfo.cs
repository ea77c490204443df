using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Strata.Node.Tests")]
