namespace Strata.Scheduler;

/// <summary>
/// The order a plan visits nodes in: a seeded walk <c>start, start + stride, start + 2·stride … (mod N)</c> with the
/// stride coprime to N, so every node is visited once per N steps, different seeds visit in different orders, and
/// it costs O(1) to set up however big the cluster is. A plan keeps its position between placements (a rotating
/// offset), so with sampling successive placements look at different nodes and load spreads over the cluster.
/// </summary>
internal sealed class NodeOrder
{
    private readonly int _count;
    private readonly int _stride;
    private int _position;

    public NodeOrder(int count, Random random)
    {
        _count = count;
        if (count == 0)
        {
            return;
        }
        _position = random.Next(count);
        var stride = 1 + random.Next(Math.Max(1, count - 1));
        while (Gcd(stride, count) != 1)
        {
            stride++;
        }
        _stride = stride % count == 0 ? 1 % count : stride;
    }

    /// <summary>The next node index to visit; wraps around every N calls.</summary>
    public int Next()
    {
        var current = _position;
        _position += _stride;
        if (_position >= _count)
        {
            _position -= _count;
        }
        return current;
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }
        return a;
    }
}
