namespace Strata.Rightsizing.Policy;

/// <summary><c>--rightsize off|recommend|auto</c>. Stored: the numbers never change.</summary>
public enum RightsizeMode
{
    /// <summary>No recommendation shown, nothing applied.</summary>
    Off = 0,

    /// <summary>Recommendations shown; never applied.</summary>
    Recommend = 1,

    /// <summary>Recommendations applied live through resize, under the policy's hysteresis and cooldown.</summary>
    Auto = 2,
}
