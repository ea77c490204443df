namespace Strata.Scheduler;

/// <summary>
/// The order a plan visits nodes in: a seeded walk <c>(start + k·stride) mod N</c> with the stride coprime to N,
/// so every node is visited once per N steps, different seeds visit in different orders, and it costs O(1) to set
/// up however big the cluster is. A plan keeps its position between placements (a rotating offset), so with
/// sampling successive placements look at different nodes and load spreads over the cluster.
/// </summary>
internal sealed class NodeOrder
{
    private readonly int _count;
    private readonly long _start;
    private readonly long _stride;

    public NodeOrder(int count, Random random)
    {
        _count = count;
        if (count == 0)
        {
            return;
        }
        _start = random.Next(count);
        var stride = 1 + random.Next(Math.Max(1, count - 1));
        while (Gcd(stride, count) != 1)
        {
            stride++;
        }
        _stride = stride % count == 0 ? 1 : stride;
    }

    /// <summary>The node index visited at step <paramref name="step"/> (any non-negative step; wraps every N).</summary>
    public int At(long step) => (int)((_start + (step % _count * _stride)) % _count);

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }
        return a;
    }
}
