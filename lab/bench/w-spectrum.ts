/**
 * The spectrum of a generator's W: eigenvalues of the covariance of W over 4000 samples (z at ψ 1), largest first.
 * A demo generator whose W fills only a few directions renders untrained images for W+ moves along the others
 * (what mappers and latent optimisation reach); lab/world2/README.md has the measurement.
 *
 *   node --import tsx lab/bench/w-spectrum.ts GENERATOR.safetensors
 */
import {configureEngine} from '../../src/engine/session.js';
import {StyleclipError} from '../../src/errors.js';
import {wSpectrum} from '../demo/w-basis.js';

configureEngine({threads: 1});
const file = process.argv[2];
if (!file) throw new StyleclipError('usage: w-spectrum.ts GENERATOR.safetensors');
const {values} = await wSpectrum(file);
console.log('trace', values.reduce((a, b) => a + b, 0).toFixed(2));
console.log(values.map((e) => e.toExponential(1)).join(' '));
