// One browser scenario at a time: it shares one server and one Chromium per class.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
