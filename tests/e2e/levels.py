"""Level meters that hold still, for tests that compare images of a call."""

# Every Web Audio analyser reads a steady level while window.__level is set (it is, from the start):
# the widget's meters, fed by real tracks, draw the same bars in every run.
STEADY_LEVELS = """
(() => {
  const read = AnalyserNode.prototype.getFloatTimeDomainData;
  AnalyserNode.prototype.getFloatTimeDomainData = function (samples) {
    if (window.__level == null) return read.call(this, samples);
    samples.fill(window.__level);
  };
  window.__level = 0.05;
})();
"""
