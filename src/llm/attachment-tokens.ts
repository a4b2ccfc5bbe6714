/**
 * Input tokens a file will cost, estimated before the call so the budget's worst-case hold counts
 * it (a large image or PDF must not slip past a cap). Text uses the prompt estimator's rule
 * (estimateTokens: safe for every script); images follow each provider's published image-token rule; a
 * PDF page costs its text plus the page as an image. Estimates err high, never low.
 */
import { estimateTokens } from './estimate-tokens.js';
import type { Attachment } from './types.js';

export type Wire = 'openai' | 'anthropic';

// The largest image a provider keeps after its own downscaling: used when the size is unknown.
const UNKNOWN_SIZE = { width: 2048, height: 2048 };
// Text of one PDF page, at the top of Anthropic's published 1,500–3,000 range.
const PDF_TEXT_TOKENS_PER_PAGE = 3000;

/** Tokens one attachment adds to the prompt on the given wire, for the given provider model. */
export function attachmentTokens(attachment: Attachment, wire: Wire, providerModel: string): number {
  switch (attachment.kind) {
    case 'text':
      return estimateTokens(textAttachmentBlock(attachment.path, attachment.text));
    case 'image':
      return imageTokens(attachment.width, attachment.height, wire, providerModel);
    case 'pdf':
      return attachment.pages * (PDF_TEXT_TOKENS_PER_PAGE + imageTokens(undefined, undefined, wire, providerModel));
  }
}

/** The text block a text file becomes: headed by its path so the model can cite it. */
export function textAttachmentBlock(path: string, text: string): string {
  return `<file path=${JSON.stringify(path)}>\n${text}\n</file>`;
}

/** Image tokens by the provider's rule; an image whose size could not be read counts as the largest. */
export function imageTokens(width: number | undefined, height: number | undefined, wire: Wire, providerModel: string): number {
  const size = width && height ? { width, height } : UNKNOWN_SIZE;
  return wire === 'anthropic' ? anthropicImageTokens(size.width, size.height) : openAIImageTokens(size.width, size.height, providerModel);
}

/**
 * Anthropic: the image is scaled to at most 1568 px on its long edge and about 1.15 megapixels,
 * then costs width × height / 750 tokens.
 */
export function anthropicImageTokens(width: number, height: number): number {
  const scale = Math.min(1, 1568 / Math.max(width, height), Math.sqrt(1_150_000 / (width * height)));
  return Math.ceil((Math.round(width * scale) * Math.round(height * scale)) / 750);
}

// OpenAI's per-model image rules (platform.openai.com "Images and vision", calculating costs).
const PATCH_MULTIPLIERS: Array<[RegExp, number]> = [
  [/^gpt-(4\.1|5[.\d]*)-nano/, 2.46],
  [/^gpt-(4\.1|5[.\d]*)-mini/, 1.62],
  [/^o4-mini/, 1.72],
];
const TILE_RULES: Array<[RegExp, { base: number; tile: number }]> = [
  [/^gpt-4o-mini/, { base: 2833, tile: 5667 }],
  [/^gpt-5/, { base: 70, tile: 140 }],
  [/^o[13]/, { base: 75, tile: 150 }],
];

/**
 * OpenAI: patch models count 32 px patches (at most 1536) times a per-model multiplier; tile
 * models fit the image in 2048 px, scale its short side to 768 px, and count 512 px tiles.
 */
export function openAIImageTokens(width: number, height: number, providerModel: string): number {
  const multiplier = PATCH_MULTIPLIERS.find(([pattern]) => pattern.test(providerModel))?.[1];
  if (multiplier !== undefined) {
    let patches = Math.ceil(width / 32) * Math.ceil(height / 32);
    if (patches > 1536) {
      const shrink = Math.sqrt((1536 * 32 * 32) / (width * height));
      patches = Math.min(1536, Math.ceil((width * shrink) / 32) * Math.ceil((height * shrink) / 32));
    }
    return Math.ceil(patches * multiplier);
  }
  const rule = TILE_RULES.find(([pattern]) => pattern.test(providerModel))?.[1] ?? { base: 85, tile: 170 };
  let w = width;
  let h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shortSide = Math.min(w, h);
  if (shortSide > 768) {
    w *= 768 / shortSide;
    h *= 768 / shortSide;
  }
  const tiles = Math.ceil(w / 512) * Math.ceil(h / 512);
  return rule.base + rule.tile * tiles;
}
