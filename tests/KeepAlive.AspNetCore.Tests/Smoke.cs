namespace KeepAlive.AspNetCore.Tests;
public class Smoke { [Fact] public void Defaults() => Assert.Equal(TimeSpan.FromSeconds(120), new KeepAliveOptions().EffectiveUserTimeout); }
