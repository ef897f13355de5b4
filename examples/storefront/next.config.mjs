/** @type {import('next').NextConfig} */
const nextConfig = {
  // The API is the only upstream; nothing here is served through Next's image optimiser.
  poweredByHeader: false,
  reactStrictMode: true,
  // Sources that live beside the app (the generated API types) are part of the type check.
  typescript: { tsconfigPath: "tsconfig.json" },
};

export default nextConfig;
