namespace Strata.Rightsizing.Policy;

/// <summary>Why the policy decided what it did. Stored with the event: the numbers never change.</summary>
public enum RightsizeReason
{
    /// <summary>Right-sizing is off for the instance.</summary>
    Off = 0,

    /// <summary>Recommend mode: the change is shown, not applied.</summary>
    RecommendOnly = 1,

    /// <summary>No history yet.</summary>
    NoHistory = 2,

    /// <summary>Every limit is within the threshold of its target.</summary>
    WithinThreshold = 3,

    /// <summary>A limit is off, but not yet for enough consecutive samples.</summary>
    Hysteresis = 4,

    /// <summary>A limit has been off long enough, but the last change is too recent.</summary>
    Cooldown = 5,

    /// <summary>A limit was off for enough consecutive samples: resized to the target.</summary>
    Resized = 6,

    /// <summary>An OOM kill: memory raised at once, cooldown and hysteresis notwithstanding.</summary>
    OomBump = 7,

    /// <summary>Memory is above its target, but the history is younger than <see cref="RightsizePolicyOptions.MemoryShrinkAfter"/>.</summary>
    YoungHistory = 8,
}
