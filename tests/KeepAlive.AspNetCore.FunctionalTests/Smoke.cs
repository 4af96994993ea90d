namespace KeepAlive.AspNetCore.FunctionalTests;
public class Smoke { [Fact] public void Runs() => Assert.True(true); }
