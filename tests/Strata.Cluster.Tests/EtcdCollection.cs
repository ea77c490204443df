using Strata.Testing;

namespace Strata.Cluster.Tests;

/// <summary>One 3-member etcd cluster for every cluster test class: started once, the tests run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class EtcdCollection : ICollectionFixture<EtcdCluster>
{
    public const string Name = "etcd";
}
