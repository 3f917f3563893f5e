#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "common/error.h"
#include "common/seed.h"
#include "data/dataset_writer.h"

namespace nsl {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kFamilySize = 4;  // classes sharing their first strokes
constexpr int kSharedStrokes = 2;

// Portable random numbers: only mt19937_64's bits are used (its output is fixed by the standard),
// never the library's distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t integer(int64_t lo, int64_t hi) {  // [lo, hi], small ranges: bias negligible
    return lo + static_cast<int64_t>(engine_() % static_cast<uint64_t>(hi - lo + 1));
  }
  double normal() {                     // Box-Muller
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

struct Vec {
  double x, y;
};
Vec operator+(Vec a, Vec b) { return {a.x + b.x, a.y + b.y}; }
Vec operator-(Vec a, Vec b) { return {a.x - b.x, a.y - b.y}; }
Vec operator*(Vec a, double s) { return {a.x * s, a.y * s}; }
double dot(Vec a, Vec b) { return a.x * b.x + a.y * b.y; }
double norm(Vec a) { return std::sqrt(dot(a, a)); }

// A stroke from p0 to p1; bulge = signed sagitta / chord length (0: straight segment).
struct Stroke {
  Vec p0, p1;
  double bulge;
};

Stroke random_stroke(Rng& rng) {
  Stroke s{};
  do {
    s.p0 = {rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85)};
    s.p1 = {rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85)};
  } while (norm(s.p1 - s.p0) < 0.25);
  // About a third of the strokes are straight, the rest arcs up to a half circle either way.
  s.bulge = rng.uniform() < 0.35 ? 0.0 : rng.uniform(0.12, 0.45) * (rng.uniform() < 0.5 ? -1 : 1);
  return s;
}

std::vector<Stroke> class_strokes(uint64_t seed, int64_t cls) {
  const int64_t family = cls / kFamilySize;
  Rng family_rng(derive_seed({seed, 1, static_cast<uint64_t>(family)}));
  Rng class_rng(derive_seed({seed, 2, static_cast<uint64_t>(cls)}));
  std::vector<Stroke> strokes;
  for (int i = 0; i < kSharedStrokes; ++i) strokes.push_back(random_stroke(family_rng));
  const int64_t own = class_rng.integer(1, 3);  // 3-5 strokes in all
  for (int64_t i = 0; i < own; ++i) strokes.push_back(random_stroke(class_rng));
  return strokes;
}

// Precomputed geometry of one stroke for distance queries.
struct Shape {
  bool arc = false;
  Vec a, b;    // segment endpoints (also the arc's endpoints)
  Vec center;  // arc only
  double radius = 0;
  Vec apex_dir;         // unit vector from center to the arc's midpoint
  double cos_half = 1;  // cosine of the arc's half angle
};

Shape make_shape(const Stroke& s) {
  Shape sh;
  sh.a = s.p0;
  sh.b = s.p1;
  const Vec v = s.p1 - s.p0;
  const double len = norm(v);
  if (std::abs(s.bulge) < 1e-3 || len < 1e-9) return sh;
  sh.arc = true;
  const Vec n{-v.y / len, v.x / len};
  const double sagitta = s.bulge * len;
  const double h = std::abs(sagitta);
  sh.radius = (len * len / 4 + h * h) / (2 * h);
  const Vec mid = (s.p0 + s.p1) * 0.5;
  const Vec apex = mid + n * sagitta;
  const double side = sagitta > 0 ? 1.0 : -1.0;
  sh.center = apex - n * (side * sh.radius);
  sh.apex_dir = (apex - sh.center) * (1.0 / sh.radius);
  sh.cos_half = dot(s.p0 - sh.center, sh.apex_dir) / sh.radius;
  return sh;
}

double distance(const Shape& sh, Vec p) {
  if (!sh.arc) {
    const Vec ab = sh.b - sh.a;
    const double t = std::clamp(dot(p - sh.a, ab) / std::max(dot(ab, ab), 1e-12), 0.0, 1.0);
    return norm(p - (sh.a + ab * t));
  }
  const Vec d = p - sh.center;
  const double r = norm(d);
  if (r > 1e-12 && dot(d, sh.apex_dir) >= sh.cos_half * r) return std::abs(r - sh.radius);
  return std::min(norm(p - sh.a), norm(p - sh.b));
}

}  // namespace

void validate(const SyntheticSpec& spec) {
  if (spec.classes < 4)
    throw ConfigError("synthetic dataset: classes must be at least 4 (2 train + 2 test), got " +
                      std::to_string(spec.classes));
  if (spec.images_per_class < 2)
    throw ConfigError("synthetic dataset: images_per_class must be at least 2, got " +
                      std::to_string(spec.images_per_class));
  if (spec.image_size < 16 || spec.image_size > 512)
    throw ConfigError("synthetic dataset: image_size must be in [16, 512], got " +
                      std::to_string(spec.image_size));
  if (spec.shards < 1)
    throw ConfigError("synthetic dataset: shards must be at least 1, got " +
                      std::to_string(spec.shards));
}

std::vector<uint8_t> render_synthetic_image(const SyntheticSpec& spec, int64_t cls, int64_t image) {
  const int64_t size = spec.image_size;
  Rng rng(derive_seed({spec.seed, 3, static_cast<uint64_t>(cls), static_cast<uint64_t>(image)}));

  // Per-stroke endpoint wobble, then geometry.
  std::vector<Shape> shapes;
  for (Stroke s : class_strokes(spec.seed, cls)) {
    s.p0 = s.p0 + Vec{rng.normal(), rng.normal()} * 0.015;
    s.p1 = s.p1 + Vec{rng.normal(), rng.normal()} * 0.015;
    s.bulge += rng.normal() * 0.02;
    shapes.push_back(make_shape(s));
  }
  // Affine jitter about the image centre: image = R * Shear * S * (canonical - c) + c + t.
  const double angle = rng.uniform(-12.0, 12.0) * kPi / 180.0;
  const double scale = rng.uniform(0.85, 1.15);
  const double shear = rng.uniform(-0.08, 0.08);
  const Vec shift{rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)};
  const double half_width = size * rng.uniform(0.022, 0.042);  // pixels
  const double background = rng.uniform(0.0, 0.25);
  const double foreground = rng.uniform(0.7, 1.0);
  const double noise = rng.uniform(0.02, 0.06);
  // Forward matrix M = R * [[1, shear], [0, 1]] * scale; we need its inverse.
  const double c = std::cos(angle), s = std::sin(angle);
  const double m00 = c * scale, m01 = (c * shear - s) * scale;
  const double m10 = s * scale, m11 = (s * shear + c) * scale;
  const double det = m00 * m11 - m01 * m10;
  const double i00 = m11 / det, i01 = -m01 / det, i10 = -m10 / det, i11 = m00 / det;
  const double pixels_per_unit = size * scale;  // canonical distance -> image pixels (approx.)

  std::vector<uint8_t> out(static_cast<size_t>(size * size));
  for (int64_t y = 0; y < size; ++y) {
    for (int64_t x = 0; x < size; ++x) {
      const Vec q{(x + 0.5) / size - 0.5 - shift.x, (y + 0.5) / size - 0.5 - shift.y};
      const Vec p{i00 * q.x + i01 * q.y + 0.5, i10 * q.x + i11 * q.y + 0.5};
      double d = 1e9;
      for (const Shape& sh : shapes) d = std::min(d, distance(sh, p));
      const double coverage = std::clamp(half_width + 0.5 - d * pixels_per_unit, 0.0, 1.0);
      const double v = background + (foreground - background) * coverage + noise * rng.normal();
      out[static_cast<size_t>(y * size + x)] =
          static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
    }
  }
  return out;
}

void write_synthetic(const SyntheticSpec& spec, const std::string& out_dir) {
  validate(spec);
  DatasetWriter writer(out_dir, "synthetic", spec.image_size, spec.image_size, 1, spec.shards);
  writer.set_source({{"generator", "synthetic"},
                     {"classes", spec.classes},
                     {"images_per_class", spec.images_per_class},
                     {"image_size", spec.image_size},
                     {"shards", spec.shards},
                     {"seed", spec.seed}});
  const int64_t train_classes = spec.classes / 2;
  char name[32];
  char path[64];
  for (int64_t cls = 0; cls < spec.classes; ++cls) {
    std::snprintf(name, sizeof(name), "synth_%04lld", static_cast<long long>(cls));
    const std::string split = cls < train_classes ? "train" : "test";
    for (int64_t i = 0; i < spec.images_per_class; ++i) {
      std::snprintf(path, sizeof(path), "synthetic/%s/%02lld", name, static_cast<long long>(i));
      const std::vector<uint8_t> pixels = render_synthetic_image(spec, cls, i);
      writer.add(split, name, pixels.data(), path);
    }
  }
  writer.finalize();
}

}  // namespace nsl
