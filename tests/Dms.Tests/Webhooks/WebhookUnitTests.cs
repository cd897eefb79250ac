using System.Net;
using Dms.Modules.Webhooks.Delivery;
using Dms.Modules.Webhooks.Domain;
using Shouldly;
using Xunit;

namespace Dms.Tests.Webhooks;

public sealed class WebhookUnitTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.255.0.9", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("10.0.0.1", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.31.255.255", true)]
    [InlineData("192.168.1.1", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("224.0.0.1", true)]
    [InlineData("255.255.255.255", true)]
    [InlineData("::", true)]
    [InlineData("::1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fc00::1", true)]
    [InlineData("fd12:3456::1", true)]
    [InlineData("ff02::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("::ffff:169.254.169.254", true)]
    [InlineData("64:ff9b::a9fe:a9fe", true)]
    [InlineData("93.184.215.14", false)]
    [InlineData("8.8.8.8", false)]
    [InlineData("172.32.0.1", false)]
    [InlineData("2606:4700::1111", false)]
    [InlineData("::ffff:8.8.8.8", false)]
    public void Internal_addresses_are_blocked_and_public_ones_are_not(string address, bool blocked) =>
        TargetGuard.IsBlocked(IPAddress.Parse(address)).ShouldBe(blocked);

    [Fact]
    public void Signatures_match_the_Standard_Webhooks_example()
    {
        // The example of the Standard Webhooks specification (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md).
        Signatures.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232314}")
            .ShouldBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    [Fact]
    public void The_body_is_the_same_bytes_for_every_attempt_and_carries_type_timestamp_sequence_and_data()
    {
        var at = new DateTime(2026, 12, 7, 12, 0, 0, DateTimeKind.Utc);
        var body = DeliveryWorker.Body("document.created", 42, at, "{\"id\": \"3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a3b\", \"title\": \"Q3\"}");
        body.ShouldBe("{\"type\":\"document.created\",\"timestamp\":\"2026-12-07T12:00:00Z\",\"sequence\":42,\"data\":{\"id\":\"3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a3b\",\"title\":\"Q3\"}}");
        DeliveryWorker.Body("document.created", 42, at, "{\"id\": \"3f2b8c1e-6a4d-4e0f-9b7a-2c5d8e1f0a3b\", \"title\": \"Q3\"}").ShouldBe(body);
    }

    [Fact]
    public void The_retry_schedule_is_jittered_within_a_fifth_and_ends_in_dead_after_the_last_wait()
    {
        var options = new WebhookOptions();
        options.MaxAttempts.ShouldBe(8);
        options.Delays().Sum(d => d.TotalHours).ShouldBeGreaterThan(24, "retries go on for hours");
        for (var i = 0; i < 100; i++)
        {
            options.RetryDelay(4).TotalMinutes.ShouldBeInRange(96, 144); // 2 h ± 20%
        }
        Enumerable.Range(0, 50).Select(_ => options.RetryDelay(1)).Distinct().Count().ShouldBeGreaterThan(1, "jitter spreads retries");
    }

    [Fact]
    public void Delivery_and_circuit_moves_are_the_documented_ones()
    {
        WebhookStates.CanMove(DeliveryStatus.Dead, DeliveryStatus.Pending).ShouldBeTrue();
        WebhookStates.CanMove(DeliveryStatus.Delivered, DeliveryStatus.Pending).ShouldBeFalse();
        WebhookStates.CanMove(DeliveryStatus.Pending, DeliveryStatus.Delivered).ShouldBeFalse();
        WebhookStates.CanMove(Circuit.Closed, Circuit.Open).ShouldBeTrue();
    }
}
