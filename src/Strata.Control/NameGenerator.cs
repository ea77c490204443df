namespace Strata.Control;

/// <summary>Readable default names (<c>brave-otter-4821</c>) for instances created without one.</summary>
public static class NameGenerator
{
    private static readonly string[] Adjectives =
    [
        "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nimble", "polite", "quiet", "rapid", "sunny", "tidy", "vivid", "witty", "young", "zesty",
    ];

    private static readonly string[] Nouns =
    [
        "otter", "falcon", "badger", "heron", "lynx", "marten", "osprey", "panda", "quokka", "raven",
        "salmon", "tapir", "urchin", "vole", "walrus", "yak", "zebra", "bison", "crane", "dingo",
    ];

    public static string Next(Random random) =>
        $"{Adjectives[random.Next(Adjectives.Length)]}-{Nouns[random.Next(Nouns.Length)]}-{random.Next(1000, 10000)}";
}
